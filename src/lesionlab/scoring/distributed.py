"""Pool scoring spread over Ray workers: contiguous chunks of the image list, one Ray task each.

The driver creates the two output arrays (`probs.npy`, `embeddings.npy`) on disk under temporary names;
each task opens them memory-mapped and fills its own rows, so nothing of the pool travels through Ray's
object store and the driver holds no rows at all. The arrays get their real names only when every chunk
succeeded. On a cluster the output folder, the images and the model file must be on a file system every
node sees at the same path (as for `lesionlab run --engine ray`, docs/scaling.md).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.errors import ConfigError, LesionlabError
from lesionlab.io import shared_mode
from lesionlab.scoring.pool import SCORING_BATCH, PoolScores
from lesionlab.selection.memmap import open_reserved


def score_chunk(
    backend: str,
    model_file: str,
    paths: list[str],
    start: int,
    outputs: tuple[str, str],
    image: dict[str, Any],
    threads: int,
    decode_workers: int,
) -> dict[str, Any]:
    """Score `paths` (rows `start`...) into the shared output files; returns timing and failures."""
    import torch

    from lesionlab.scoring.backends import OnnxScorer, TorchScorer
    from lesionlab.scoring.pool import score_images

    torch.set_num_threads(threads)
    if backend == "onnxruntime":
        scorer = OnnxScorer(Path(model_file), threads)
    else:
        from lesionlab.models.registry import create_classifier

        meta = torch.load(model_file, map_location="cpu", weights_only=True)["lesionlab"]
        model = create_classifier(meta["backbone"], meta["num_classes"], model_file)
        scorer = TorchScorer(model, "cpu", threads)
    result = score_images(
        paths,
        scorer,
        image["resolution"],
        image["preprocessing"],
        image["resize"],
        image.get("batch_size", SCORING_BATCH),
        decode_workers,
        show_progress=False,
    )
    probs = np.load(outputs[0], mmap_mode="r+")
    embeds = np.load(outputs[1], mmap_mode="r+")
    probs[start : start + len(paths)] = result.probs
    embeds[start : start + len(paths)] = result.embeddings
    probs.flush()
    embeds.flush()
    return {"start": start, "n": len(paths), "seconds": result.seconds, "failed": result.failed}


def score_images_ray(
    paths: list[Path],
    backend: str,
    model_file: Path,
    num_classes: int,
    embed_dim: int,
    out: Path,
    image: dict[str, Any],
    chunk_size: int = 2000,
    threads: int = 1,
    decode_workers: int = 1,
) -> PoolScores:
    """Score `paths` in Ray tasks of `chunk_size` images (`threads` CPUs each) into `out/probs.npy` and
    `out/embeddings.npy`. `model_file`: an exported ONNX model, or a lesionlab checkpoint for torch.
    Uses the Ray instance this process is connected to, or starts a local one (`RAY_ADDRESS` honoured)."""
    try:
        import ray
    except ImportError:
        raise ConfigError('scoring on Ray needs Ray: pip install -e ".[ray]"') from None
    import time

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = ("probs", "embeddings")
    tmp = _reserve_outputs(out, names, len(paths), (num_classes, embed_dim))
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False)
    t0 = time.perf_counter()
    try:
        chunks = [(s, [str(p) for p in paths[s : s + chunk_size]]) for s in range(0, len(paths), chunk_size)]
        done = _score_chunks_on_ray(ray, chunks, backend, model_file, tmp, image, threads, decode_workers)
        for name, tmp_name in zip(names, tmp, strict=True):
            os.replace(tmp_name, out / f"{name}.npy")
    finally:
        for tmp_name in tmp:
            Path(tmp_name).unlink(missing_ok=True)
        if started_here:
            ray.shutdown()
    failed = {k: v for row in done for k, v in row["failed"].items()}
    probs, embeds = np.load(out / "probs.npy", mmap_mode="r"), np.load(out / "embeddings.npy", mmap_mode="r")
    return PoolScores(list(map(Path, paths)), probs, embeds, time.perf_counter() - t0, failed)


def _reserve_outputs(out: Path, names: tuple[str, ...], n: int, dims: tuple[int, ...]) -> list[str]:
    """One (n, dim) float32 .npy per name under a hidden temporary name in `out`, space reserved.

    Reserved in full before any task starts, so a full disk fails here and not after an hour of scoring;
    the real names are given only when every chunk succeeded. On failure nothing is left behind.
    """
    tmp: list[str] = []
    for name, dim in zip(names, dims, strict=True):
        fd, tmp_name = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".npy")
        os.close(fd)
        os.chmod(tmp_name, shared_mode())
        tmp.append(tmp_name)
        try:
            open_reserved(tmp_name, out / f"{name}.npy", np.float32, (n, dim)).flush()
        except BaseException:
            for t in tmp:
                Path(t).unlink(missing_ok=True)
            raise
    return tmp


def _score_chunks_on_ray(
    ray: Any,
    chunks: list[tuple[int, list[str]]],
    backend: str,
    model_file: Path,
    outputs: list[str],
    image: dict[str, Any],
    threads: int,
    decode_workers: int,
) -> list[dict[str, Any]]:
    """`score_chunk` of each (first row, image paths) chunk as a Ray task; a failed task is one line.

    Each task is retried once (a worker lost with its node); a chunk that still fails stops the scoring
    with Ray's first line of the cause instead of a remote traceback.
    """
    task = ray.remote(num_cpus=threads, max_retries=1)(score_chunk)
    refs = [
        task.remote(
            backend, str(model_file), chunk, start, (outputs[0], outputs[1]), image, threads, decode_workers
        )
        for start, chunk in chunks
    ]
    try:
        return ray.get(refs)
    except ray.exceptions.RayError as exc:
        raise LesionlabError(f"a scoring chunk failed on Ray: {str(exc).strip().splitlines()[0]}") from None
