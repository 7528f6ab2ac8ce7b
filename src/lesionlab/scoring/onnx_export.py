"""Export a trained `LesionClassifier` to ONNX, checked against torch before it is used.

The exported graph takes what the decoder produces, uint8 images (N, H, W, 3), and returns the softmax
probabilities (N, C) and the pooled embeddings (N, D), so scaling to [0, 1], normalisation and softmax run
inside ONNX Runtime. Every export is verified: torch and ONNX Runtime score the same images (seeded
random images plus, if given, real ones) and the export is refused if any probability differs by more
than `PROBS_ATOL` or any embedding value by more than `EMBED_RTOL` of the largest embedding magnitude.
A JSON file beside the model records the weights' hash, the resolution and the differences measured, so
a model exported from the same weights is reused rather than exported again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lesionlab.errors import ConfigError, LesionlabError
from lesionlab.io import DiskFullError, disk_full, shared_mode, tensor_bytes, write_json
from lesionlab.models.classifier import LesionClassifier

OPSET = 17
# Float32 kernels of ONNX Runtime and torch sum in other orders; measured differences on EfficientNet-Lite0
# at 224 px are ~1e-6 in probability (see tests/test_scoring.py), so these bounds leave a wide margin while
# still catching a wrong graph (a missing normalisation moves probabilities by > 1e-2).
PROBS_ATOL = 1e-4
EMBED_RTOL = 1e-3


class _ScoringGraph(nn.Module):
    """uint8 NHWC images -> (probabilities, embeddings): the computation `TorchScorer` performs."""

    def __init__(self, model: LesionClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.permute(0, 3, 1, 2).float() / 255.0
        out = self.model.forward_all(x)
        return torch.softmax(out.logits, dim=1), out.embedding


def _export(graph: nn.Module, resolution: int, path: Path) -> None:
    """torch's TorchScript-based exporter (seconds), or the torch.export-based one (~20 s on Lite0) where
    the former is gone; both give the same graph to within float32 rounding."""
    dummy = torch.zeros(2, resolution, resolution, 3, dtype=torch.uint8)
    names = {"input_names": ["images"], "output_names": ["probs", "embeddings"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(
                graph,
                (dummy,),
                str(path),
                **names,
                dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}, "embeddings": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
            return
        except (TypeError, NotImplementedError, ImportError):  # a torch without the legacy exporter
            pass
        program = torch.onnx.export(
            graph, (dummy,), **names, dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True
        )
        program.save(str(path))


def weights_hash(model: nn.Module) -> str:
    """SHA-256 (16 hex digits) of every parameter and buffer: the identity of a model's weights."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _meta_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".json")


def compare(model: LesionClassifier, path: Path, images: np.ndarray) -> dict[str, float]:
    """Largest |difference| between torch and ONNX Runtime on `images`: probabilities (absolute) and
    embeddings (relative to the largest embedding magnitude)."""
    from lesionlab.scoring.backends import OnnxScorer, TorchScorer

    torch_probs, torch_emb = TorchScorer(copy.deepcopy(model), "cpu")(images)
    onnx_probs, onnx_emb = OnnxScorer(path, threads=1)(images)
    scale = max(float(np.abs(torch_emb).max()), 1e-12)
    return {
        "probs_max_abs_diff": float(np.abs(torch_probs - onnx_probs).max()),
        "embed_max_rel_diff": float(np.abs(torch_emb - onnx_emb).max() / scale),
        "same_argmax": float(np.mean(torch_probs.argmax(1) == onnx_probs.argmax(1))),
    }


def export_onnx(
    model: LesionClassifier,
    path: Path | str,
    resolution: int,
    check_images: np.ndarray | None = None,
    reuse: bool = False,
) -> dict[str, Any]:
    """Write `model` as ONNX to `path` and verify it against torch; returns what the check measured.

    With `reuse`, an existing file exported from the same weights and resolution is kept (its recorded
    check is returned). Raises LesionlabError, and leaves no file, when the check fails.
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ConfigError('exporting to ONNX needs the onnx extra: pip install -e ".[onnx]"') from None
    path = Path(path)
    model = copy.deepcopy(model).cpu().eval()  # the caller's model keeps its device, mode and layout
    identity = {"weights": weights_hash(model), "resolution": int(resolution), "opset": OPSET}
    meta = _meta_path(path)
    if reuse and (saved := _earlier_export(path, meta, identity)) is not None:
        return saved
    graph = _ScoringGraph(model).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _export(graph, resolution, tmp)
        diffs, n_checked = _check_export(model, tmp, resolution, check_images)
        os.chmod(tmp, shared_mode())
        os.replace(tmp, path)
    except Exception as exc:
        if disk_full(exc):  # torch.onnx writes the file itself: name it, its folder and the model's size
            tmp.unlink(missing_ok=True)  # first, so the message counts the space it held as free
            raise DiskFullError(path, tensor_bytes(model.state_dict().values()), exact=True) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    record = {
        **identity,
        **diffs,
        "n_checked": n_checked,
        "probs_atol": PROBS_ATOL,
        "embed_rtol": EMBED_RTOL,
    }
    write_json(meta, record)
    return record


def _earlier_export(path: Path, meta: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded check of an existing export from the same weights, resolution and opset, else None.

    Scoring the same run again then skips a slow export and keeps its check; an unreadable record
    means export again, never a failure.
    """
    if not (path.is_file() and meta.is_file()):
        return None
    try:
        saved = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    return saved if {k: saved.get(k) for k in identity} == identity else None


def _check_export(
    model: LesionClassifier, exported: Path, resolution: int, check_images: np.ndarray | None
) -> tuple[dict[str, float], int]:
    """(torch vs ONNX differences, number of images compared); raises if beyond tolerance.

    Four seeded random images always, so an export is checked even without the caller's images, plus
    `check_images` (real images catch what noise does not exercise).
    """
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, resolution, resolution, 3), dtype=np.uint8)
    if check_images is not None and len(check_images):
        images = np.concatenate([images, np.asarray(check_images, dtype=np.uint8)])
    diffs = compare(model, exported, images)
    if diffs["probs_max_abs_diff"] > PROBS_ATOL or diffs["embed_max_rel_diff"] > EMBED_RTOL:
        raise LesionlabError(
            f"the ONNX export of this model differs from torch beyond tolerance ({diffs}; allowed: "
            f"probabilities {PROBS_ATOL}, embeddings {EMBED_RTOL} relative): score with the torch backend"
        )
    return diffs, len(images)
