"""`lesionlab score`: a trained model over a folder of images (torch or ONNX Runtime), results on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def score(
    run_dir: Annotated[Path, typer.Argument(help="output folder of `lesionlab train` (model.pt)")],
    images: Annotated[Path, typer.Argument(help="folder of images to score (searched recursively)")],
    out: Annotated[Path | None, typer.Option(help="folder for the results (default: RUN_DIR/scores)")] = None,
    backend: Annotated[
        str, typer.Option(help="torch, or onnxruntime (exports RUN_DIR/model.onnx, checked against torch)")
    ] = "torch",
    threads: Annotated[int | None, typer.Option(help="compute threads (default: all cores)")] = None,
    batch_size: Annotated[int, typer.Option(help="images per batch (larger on a GPU)")] = 16,
    decode_workers: Annotated[int, typer.Option(help="threads decoding the next batches meanwhile")] = 1,
    ray_chunk: Annotated[
        int | None,
        typer.Option(help="score chunks of this many images as Ray tasks (local Ray, or $RAY_ADDRESS)"),
    ] = None,
) -> None:
    """Score a pool of images: probabilities and embeddings (memory-mapped .npy) and a CSV per image."""
    from lesionlab.locking import output_lock
    from lesionlab.scoring.score_files import score_folder

    folder = out or run_dir / "scores"
    with output_lock(folder):  # one writer per output folder
        result = score_folder(
            run_dir, images, out, backend, threads, batch_size, decode_workers, True, ray_chunk
        )
    console.print(
        f"scored {result['n_images']} images with {backend} at {result['images_per_second']:.1f} images/s; "
        f"wrote {folder}/scores.csv, probs.npy, embeddings.npy"
    )
    if result["failed"]:
        console.print(f"{len(result['failed'])} image(s) could not be decoded: listed in scoring.json")
