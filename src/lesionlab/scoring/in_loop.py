"""The loop's pool scoring through ONNX Runtime (`experiment.pool_scoring: onnxruntime`).

By default a round's probabilities and embeddings come from the trainer, which on the CPU fast path reads
the frozen trunk's cached activations: cheap after the first round, but the cache holds 44 KB per image
at 224 px (4.4 GB for 100,000 images, kept in memory by the process). With `onnxruntime` the round's
model is exported (checked against torch), the unlabelled images are decoded in a thread beside the
compute and scored end to end in float32, and nothing per image is kept but the outputs (memory-mapped
above `EvidenceSettings.disk_above`). The numbers are those of the full-precision model: equal to the
trainer's full fine-tuning path within the export tolerance, and within float16 rounding of the cached
activations (~1e-3 in probability) on the fast path. MC-dropout samples are drawn from the embeddings
with the model's own head, as the trainer does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionlab.errors import ConfigError
from lesionlab.scoring.backends import OnnxScorer
from lesionlab.scoring.onnx_export import export_onnx
from lesionlab.scoring.pool import score_images
from lesionlab.selection.memmap import CHUNK_ROWS, EvidenceStore
from lesionlab.training.device import seeded

POOL_SCORING = ("trainer", "onnxruntime")


def onnx_outputs(
    trainer: Any, records: Sequence[Any], mc_samples: int, workdir: Path | None, on_disk: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (N, C), embeddings (N, D) and MC-dropout probabilities (T, N, C) of `records` by the
    trainer's current model run in ONNX Runtime; memory-mapped when `on_disk` (in `workdir`)."""
    if not trainer.task.class_labels:
        raise ConfigError("experiment.pool_scoring onnxruntime scores classifiers only; use trainer")
    cfg = trainer.config
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=workdir, prefix=".onnx-scoring-"))
    try:
        export_onnx(trainer.model, tmp / "model.onnx", cfg.resolution)
        scorer = OnnxScorer(tmp / "model.onnx", threads=cfg.num_threads)
        store = EvidenceStore(tmp / "scores") if on_disk else None
        paths = [r.image_path for r in records]
        result = score_images(
            paths,
            scorer,
            cfg.resolution,
            cfg.preprocessing,
            cfg.resize,
            store=store,
            show_progress=cfg.progress,
        )
        if result.failed:
            first = next(iter(result.failed.values()))
            raise ConfigError(f"{len(result.failed)} pool image(s) could not be decoded, e.g. {first}")
        mc = _mc_dropout(trainer.model, result.embeddings, mc_samples, store, cfg.seed)
        return result.probs, result.embeddings, mc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # open memory maps keep their data until dropped


@torch.inference_mode()
def _mc_dropout(
    model: Any, embeddings: np.ndarray, samples: int, store: EvidenceStore | None, seed: int
) -> np.ndarray:
    """(T, N, C) softmax of the head over `samples` dropout masks, a chunk of embeddings at a time; the
    masks come from `seed`, not from whatever the process drew before (see `seeded`)."""
    if not samples:
        return np.empty((0,))
    n, c = len(embeddings), model.num_classes
    device = next(model.parameters()).device

    def head(rows: np.ndarray) -> torch.Tensor:
        emb = torch.from_numpy(np.asarray(rows)).to(device)
        return torch.softmax(model.classify_embedding(emb).float(), 1).cpu()

    model.eval()
    model.dropout.train()
    try:
        with seeded(seed, device):
            if store is None:
                return np.stack([head(embeddings).numpy() for _ in range(samples)])
            with store.writer("mc_probs", (samples, n, c)) as out:
                for t in range(samples):
                    for start in range(0, n, CHUNK_ROWS):
                        out[t, start : start + CHUNK_ROWS] = head(embeddings[start : start + CHUNK_ROWS])
        return store.read("mc_probs")
    finally:
        model.dropout.eval()
