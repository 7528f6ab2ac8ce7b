"""`lesionlab score`: a trained run's model over a folder of images, to disk, with torch or ONNX Runtime."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.data.files import IMAGE_SUFFIXES, image_files_under, require_dir
from lesionlab.errors import ConfigError, DataError
from lesionlab.io import write_json, write_text
from lesionlab.scoring.backends import BACKENDS, make_scorer
from lesionlab.scoring.pool import SCORING_BATCH, score_images
from lesionlab.selection.memmap import EvidenceStore
from lesionlab.tasks import get_task


def list_images(folder: Path) -> list[Path]:
    """Every image file under `folder` (recursively, links to folders not followed), sorted; a folder
    that is a link loop is named as one (the data sources' listing, `image_files_under`)."""
    found = image_files_under(require_dir(Path(folder), "images"))
    if not found:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(found)


def load_run_model(run_dir: Path) -> tuple[Any, Any, list[str]]:
    """The TrainRunConfig, the trained classifier and its class names of a `lesionlab train` folder."""
    from lesionlab.models.registry import create_classifier
    from lesionlab.supervised import checkpoint_classes, read_run_metrics, run_files

    run_dir = Path(run_dir)
    metrics, ckpt = run_files(run_dir)
    config, stored = read_run_metrics(metrics)
    if not get_task(config.task).class_labels:
        raise ConfigError(f"{run_dir} trained a {config.task} model: lesionlab score scores classifiers")
    classes = checkpoint_classes(ckpt) or [str(c) for c in stored.get("classes", [])]
    if len(classes) < 2:
        raise ConfigError(f"{run_dir}: the class names of the model are not recorded; train the run again")
    model = create_classifier(config.model.backbone, len(classes), str(ckpt), config.model.dropout)
    return config, model, classes


def score_folder(
    run_dir: Path,
    images: Path,
    out: Path | None = None,
    backend: str = "torch",
    threads: int | None = None,
    batch_size: int = SCORING_BATCH,
    decode_workers: int = 1,
    show_progress: bool = True,
    ray_chunk: int | None = None,
) -> dict[str, Any]:
    """Score every image under `images` with the run's model; writes `probs.npy`, `embeddings.npy`
    (memory-mappable), `scores.csv` (file, predicted class, one probability per class) and
    `scoring.json` (backend, throughput, undecodable files, the ONNX check) to `out`. With `ray_chunk`,
    chunks of that many images are scored in Ray tasks of `threads` (default 1) CPUs each."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown --backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if batch_size < 1 or decode_workers < 0:  # before the model loads, and never a ZeroDivisionError
        raise ConfigError(
            f"--batch-size must be >= 1 and --decode-workers >= 0, got {batch_size} and {decode_workers}"
        )
    config, model, classes = load_run_model(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / "scores"
    paths = list_images(images)
    train = config.train
    onnx_path = Path(run_dir) / "model.onnx"
    if ray_chunk is not None:
        image = {"resolution": train.resolution, "preprocessing": train.preprocessing, "resize": train.resize}
        image["batch_size"] = batch_size
        result = _score_with_ray(
            paths, backend, model, len(classes), Path(run_dir), out, image, ray_chunk, threads, decode_workers
        )
    else:
        scorer = make_scorer(backend, model, train.resolution, threads, train.device, onnx_path)
        store = EvidenceStore(out)
        image = (train.resolution, train.preprocessing, train.resize)
        result = score_images(paths, scorer, *image, batch_size, decode_workers, store, show_progress)
    _write_csv(out / "scores.csv", result.paths, result.probs, classes, result.failed)
    summary = {
        "run": str(run_dir),
        "images": str(images),
        "n_images": len(paths),
        "backend": backend,
        "threads": threads,
        "decode_workers": decode_workers,
        "batch_size": batch_size,
        "ray_chunk": ray_chunk,
        "resolution": train.resolution,
        "seconds": result.seconds,
        "images_per_second": result.images_per_second,
        "failed": result.failed,
        "classes": classes,
    }
    if backend == "onnxruntime":
        summary["onnx_check"] = json.loads((onnx_path.with_suffix(".onnx.json")).read_text(encoding="utf-8"))
    write_json(out / "scoring.json", summary)
    return summary


def _score_with_ray(
    paths: list[Path],
    backend: str,
    model: Any,
    n_classes: int,
    run_dir: Path,
    out: Path,
    image: dict[str, Any],
    ray_chunk: int,
    threads: int | None,
    decode_workers: int,
) -> Any:
    """Score in Ray tasks, each loading the model from a file (a model object would be pickled per task).

    For ONNX Runtime that file is the exported model, written once here (or reused if it matches).
    """
    from lesionlab.scoring.distributed import score_images_ray

    if ray_chunk < 1:
        raise ConfigError(f"--ray-chunk must be >= 1, got {ray_chunk}")
    onnx_path = run_dir / "model.onnx"
    if backend == "onnxruntime":
        from lesionlab.scoring.onnx_export import export_onnx

        export_onnx(model, onnx_path, image["resolution"], reuse=True)
    model_file = onnx_path if backend == "onnxruntime" else run_dir / "model.pt"
    return score_images_ray(
        paths,
        backend,
        model_file,
        n_classes,
        model.embed_dim,
        out,
        image,
        ray_chunk,
        threads or 1,
        decode_workers,
    )


def _write_csv(path: Path, paths: list[Path], probs: np.ndarray, classes: list[str], failed: dict) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image", "predicted", *[f"p_{c}" for c in classes]])
    for start in range(0, len(paths), 4096):  # one chunk of the memory map at a time
        chunk = np.asarray(probs[start : start + 4096])
        for image, p in zip(paths[start : start + 4096], chunk, strict=True):
            name = _text(image)
            if str(image) in failed:
                writer.writerow([name, "", *[""] * len(classes)])
            else:
                writer.writerow([name, classes[int(p.argmax())], *[f"{v:.6g}" for v in p]])
    write_text(path, buffer.getvalue())


def _text(path: Path) -> str:
    """A path as UTF-8 text: a file name that is not UTF-8 (Linux keeps raw bytes, which Python holds as
    surrogates) is written with its bad bytes as `\\xff` escapes, instead of failing the whole CSV."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
