"""Score a pool of image files batch by batch into (memory-mapped) arrays, decoding ahead in threads.

Memory holds a few decoded batches and the model, whatever the pool size: with a `store`, the
probabilities and embeddings go straight to `.npy` files on disk (`selection.memmap.EvidenceStore`). An
image that cannot be decoded is reported in `failed` and gets NaN rows instead of stopping a long run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionlab.data.preprocess import check_preprocessing, check_resize, load_image
from lesionlab.errors import DataError
from lesionlab.progress import progress as progress_bar
from lesionlab.scoring.backends import Scorer
from lesionlab.scoring.stream import decoded_batches
from lesionlab.selection.memmap import EvidenceStore

# Images per batch on CPU: EfficientNet-Lite0 at 224 px peaked at 1.07 GB resident with 16 images per
# batch against 1.80 GB with 64 (its expanded early stages are 300 MB per tensor at 64), and ran faster
# (8.1 vs 6.5 images/s on one busy core): larger batches only pay on a GPU.
SCORING_BATCH = 16


@dataclass
class PoolScores:
    """Per-image probabilities (N, C) and embeddings (N, D), in the order of `paths`, and the timing."""

    paths: list[Path]
    probs: np.ndarray
    embeddings: np.ndarray
    seconds: float
    failed: dict[str, str] = field(default_factory=dict)  # path -> why it could not be decoded

    @property
    def images_per_second(self) -> float:
        return len(self.paths) / max(self.seconds, 1e-9)


class _Decoder:
    """`load_image` at the working size; a file that fails becomes a black image, remembered by path."""

    def __init__(self, size: int, preprocessing: str, resize: str) -> None:
        check_preprocessing(preprocessing)
        check_resize(resize)
        self.size, self.preprocessing, self.resize = size, preprocessing, resize
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> np.ndarray:
        try:
            return load_image(path, self.size, self.preprocessing, resize=self.resize)
        except (DataError, OSError) as exc:
            with self._lock:
                self.failed[str(path)] = str(exc)
            return np.zeros((self.size, self.size, 3), dtype=np.uint8)


def score_images(
    paths: list[Path] | list[str],
    scorer: Scorer,
    resolution: int,
    preprocessing: str = "none",
    resize: str = "squash",
    batch_size: int = SCORING_BATCH,
    decode_workers: int = 1,
    store: EvidenceStore | None = None,
    show_progress: bool = True,
) -> PoolScores:
    """Probabilities and embeddings of every image in `paths`, decoded at `resolution` with the training
    run's preprocessing and resize; into `store` (memory-mapped) when given, else in memory."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("there are no images to score")
    decode = _Decoder(resolution, preprocessing, resize)
    t0 = time.perf_counter()
    batches = decoded_batches(paths, decode, batch_size, decode_workers)
    n_batches = -(-len(paths) // batch_size)
    probs = embeds = None
    writers = []
    try:
        for start, images in progress_bar(batches, f"scoring {len(paths)} images", n_batches, show_progress):
            p, e = scorer(images)
            if probs is None:
                probs, embeds, writers = _outputs(len(paths), p.shape[1], e.shape[1], store)
            probs[start : start + len(p)] = p
            embeds[start : start + len(e)] = e
        bad = [i for i, path in enumerate(paths) if str(path) in decode.failed]
        probs[bad] = np.nan
        embeds[bad] = np.nan
        for w in writers:
            w.__exit__(None, None, None)
    except BaseException as exc:
        for w in writers:
            w.__exit__(type(exc), exc, exc.__traceback__)
        raise
    seconds = time.perf_counter() - t0
    if store is not None:
        probs, embeds = store.read("probs"), store.read("embeddings")
    return PoolScores(paths, probs, embeds, seconds, dict(decode.failed))


def _outputs(n: int, num_classes: int, dim: int, store: EvidenceStore | None):
    """In-memory arrays, or memory maps being written in `store` (with their context managers)."""
    if store is None:
        return np.empty((n, num_classes), np.float32), np.empty((n, dim), np.float32), []
    writers = [store.writer("probs", (n, num_classes)), store.writer("embeddings", (n, dim))]
    probs, embeds = (w.__enter__() for w in writers)
    return probs, embeds, writers
