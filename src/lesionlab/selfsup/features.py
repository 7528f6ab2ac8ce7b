"""Pooled last-stage encoder features of a whole pool from a fixed (pre-trained) U-Net: what `ssl_kmeans`
clusters (Zhao et al. 2022, "Self-supervised Assisted Active Learning for Skin Lesion Segmentation").
Computed once per pool and setting and kept with the run, like the PCA features of dual-criteria selection."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lesionlab.data.cache import ImageCache
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.io import atomic_file
from lesionlab.models.unet import Segmenter, create_segmenter
from lesionlab.progress import progress

IMAGENET_RESOLUTION = 224  # Lite0's ImageNet input size, for the checkpoint-free default
BATCH = 32


def feature_model(checkpoint: str) -> tuple[Segmenter, int, str, str]:
    """The encoder, and the resolution, preprocessing and resize its features are computed at: those it
    was pre-trained on (a checkpoint from before `resize` was recorded was pre-trained squashed)."""
    if checkpoint == "imagenet":
        return create_segmenter("unet_lite0", "imagenet"), IMAGENET_RESOLUTION, "none", "squash"
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(
            f"ssl_kmeans checkpoint {path} does not exist: run `lesionlab pretrain` first, or use "
            "checkpoint: imagenet"
        )
    meta = torch.load(path, map_location="cpu", weights_only=True).get("lesionlab_segmenter") or {}
    if "backbone" not in meta or "resolution" not in meta:
        raise ConfigError(
            f"{path} is not a `lesionlab pretrain` checkpoint (no backbone/resolution recorded)"
        )
    model = create_segmenter(meta["backbone"], str(path), width=int(meta.get("width", 64)))
    return model, int(meta["resolution"]), "grayscale_minmax", str(meta.get("resize", "squash"))


@torch.inference_mode()
def pool_features(
    pool: Sequence[Record],
    checkpoint: str,
    pool_size: int = 2,
    path: Path | None = None,
    cache_dir: Path | None = None,
) -> np.ndarray:
    """(N, C * pool_size^2) float32 features of `pool`, read from `path` when it holds this very pool."""
    ids = np.array([r.id for r in pool])
    saved = _load(path, ids)
    if saved is not None:
        return saved
    model, resolution, preprocessing, resize = feature_model(checkpoint)
    model.eval()
    images = ImageCache(cache_dir, resolution, preprocessing, resize)  # the pixels it was pre-trained on
    out = []
    described = f"encoding {len(pool)} pool images for the cold start"  # once per pool; can be minutes
    for start in progress(range(0, len(pool), BATCH), described):
        chunk = images.get_many([r.image_path for r in pool[start : start + BATCH]])
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float().div_(255)
        out.append(model.embed(model.encode(x), pool_size).numpy())
    feats = np.concatenate(out).astype(np.float32) if out else np.empty((0, 0), dtype=np.float32)
    if path is not None:
        with atomic_file(path) as fh:
            np.savez(fh, ids=ids, features=feats)
    return feats


def _load(path: Path | None, ids: np.ndarray) -> np.ndarray | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            if np.array_equal(saved["ids"], ids):
                return saved["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return None
