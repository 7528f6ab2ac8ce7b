"""The real-data matrix of `kcenter_speed.py`: pooled EfficientNet-Lite0 (ImageNet) embeddings of fixed
augmented views of every HAM10000 and ISIC 2017 image, computed once (resumable per part) and cached.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

EMBED_RESOLUTION = 128
DIM = 1280  # Lite0's pooled feature size


def _all_records(data: Path) -> list[Any]:
    from lesionlab.data.sources import load_source

    records = []
    for name, task in (("ham10000", None), ("isic2017", "3class")):
        records.extend(load_source(name, data / name, task=task).records)
    return sorted({r.image_path: r for r in records}.values(), key=lambda r: str(r.image_path))


def real_embeddings(data: Path, cache_dir: Path, n_rows: int, threads: int) -> tuple[np.ndarray, dict]:
    """(n_rows, 1280) float32 pooled Lite0 embeddings of views 0, 1, ... of every image, cached on disk.

    Row order: view 0 of every image, then view 1 of every image, and so on. Views are the trainer's fixed
    views (seeded by each file's content key), embedded with `trainer.runtime.embed_arrays` (ImageNet
    weights, no training: the pooled features the coreset strategies read). Parts are saved per (view,
    image chunk), so an interrupted run resumes.
    """
    from lesionlab.config import TrainConfig
    from lesionlab.data.augment import augmented_views
    from lesionlab.models import create_classifier
    from lesionlab.training import Trainer
    from lesionlab.training.activations import activation_key

    folder = cache_dir / "benchmarks" / "kcenter_speed"
    final = folder / f"embeddings_lite0_{EMBED_RESOLUTION}px_{n_rows}.npy"
    records = _all_records(data)
    n_views = math.ceil(n_rows / len(records))
    info = {"images": len(records), "views": n_views, "resolution": EMBED_RESOLUTION, "cache": str(final)}
    if final.exists():
        return np.load(final, mmap_mode=None), info
    torch.set_num_threads(threads)
    model = create_classifier("efficientnet_lite0", 2, weights="imagenet", seed=0)
    trainer = Trainer(
        model,
        TrainConfig(resolution=EMBED_RESOLUTION, freeze_stages=0, num_threads=threads, progress=False),
        cache_dir=cache_dir,
    )
    parts = folder / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    chunk = 512
    rows, done, start = [], 0, time.perf_counter()
    for lo in range(0, len(records), chunk):
        batch = records[lo : lo + chunk]
        part = parts / f"{EMBED_RESOLUTION}px_{lo:06d}_{n_views}v.npy"
        if not part.exists():
            paths = [r.image_path for r in batch]
            images = trainer.images.get_many(paths)
            keys = [activation_key(Path(p)) for p in paths]
            views = augmented_views(images, n_views, 0, keys=keys)
            emb = np.stack([trainer.runtime.embed_arrays(views[v]) for v in range(n_views)]).astype(
                np.float32
            )
            tmp = part.with_suffix(".tmp.npy")
            np.save(tmp, emb)
            tmp.rename(part)
            done += len(batch) * n_views
            rate = done / (time.perf_counter() - start)
            left = (len(records) - lo - len(batch)) * n_views / rate
            print(
                f"embedded {lo + len(batch)}/{len(records)} images x {n_views} views, {rate:.1f}/s, "
                f"~{left / 60:.0f} min left"
            )
        rows.append(np.load(part))
    matrix = np.concatenate(rows, axis=1).reshape(-1, DIM)[:n_rows]  # (views, images) -> view-major rows
    tmp = final.with_suffix(".tmp.npy")
    np.save(tmp, np.ascontiguousarray(matrix))
    tmp.rename(final)
    return np.load(final), info
