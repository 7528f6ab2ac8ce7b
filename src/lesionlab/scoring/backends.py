"""Scorers: uint8 images (N, H, W, 3) in, class probabilities (N, C) and pooled embeddings (N, D) out.

`TorchScorer` runs the `LesionClassifier` itself (CPU, or CUDA for users with a GPU); `OnnxScorer` runs
the same network exported to ONNX (`scoring.onnx_export`) with ONNX Runtime, which is faster on CPU.
Both take the same uint8 input and give the same outputs to the tolerance `onnx_export` checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from lesionlab.errors import ConfigError
from lesionlab.models.classifier import LesionClassifier
from lesionlab.training.device import select_device, set_threads

BACKENDS = ("torch", "onnxruntime")


class Scorer(Protocol):
    name: str

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class TorchScorer:
    """The model in eval mode under `torch.inference_mode`, channels-last, one batch per call."""

    name = "torch"

    def __init__(self, model: LesionClassifier, device: str = "auto", threads: int | None = None) -> None:
        self.device = select_device(device)
        set_threads(threads)
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255).contiguous(memory_format=torch.channels_last)
        out = self.model.forward_all(x)
        probs = torch.softmax(out.logits.float(), dim=1)
        return probs.cpu().numpy(), out.embedding.float().cpu().numpy()


def onnx_session(path: Path, threads: int | None = None, device: str = "cpu"):
    """An ONNX Runtime session on `threads` intra-op threads (None: ONNX Runtime's default, all cores)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(
            'ONNX Runtime is not installed: pip install -e ".[onnx]" (or choose the torch backend)'
        ) from None
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    if not Path(path).is_file():
        raise ConfigError(f"ONNX model {path} does not exist: export it first (lesionlab score does)")
    return ort.InferenceSession(str(path), options, providers=providers)


class OnnxScorer:
    """An exported model (`onnx_export.export_onnx`) run by ONNX Runtime."""

    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, device: str = "cpu") -> None:
        self.path = Path(path)
        self.session = onnx_session(self.path, threads, device)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, embeddings = self.session.run(None, {"images": np.ascontiguousarray(images, dtype=np.uint8)})
        return probs, embeddings


def make_scorer(
    backend: str,
    model: LesionClassifier,
    resolution: int,
    threads: int | None = None,
    device: str = "auto",
    onnx_path: Path | None = None,
) -> Scorer:
    """The scorer for `backend`; for onnxruntime the model is exported to `onnx_path` first unless a file
    exported from the same weights is already there (the export is checked against torch)."""
    if backend == "torch":
        return TorchScorer(model, device, threads)
    if backend == "onnxruntime":
        from lesionlab.scoring.onnx_export import export_onnx

        if onnx_path is None:
            raise ConfigError("the onnxruntime backend needs a path for the exported model")
        export_onnx(model, onnx_path, resolution, reuse=True)
        return OnnxScorer(onnx_path, threads, "cuda" if select_device(device).type == "cuda" else "cpu")
    raise ConfigError(f"unknown scoring backend {backend!r}: choose one of {', '.join(BACKENDS)}")
