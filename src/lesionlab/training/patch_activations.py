"""ACFT's patch predictions (Zhou et al. 2021): the current model's probabilities for every candidate patch.

On the CPU fast path the frozen trunk's activations of each patch are computed once per pool and kept
like the fixed views (`ActivationCache`, in a folder of their own: `<trunk folder>_patches`), so a round
only re-runs the trained stages over N x m cached activations. Patch j of an image is the same whatever m
is, so a run asking for fewer patches reuses the entries of one that asked for more. Without the fast path
the patches are made from the decoded images and go through the whole network.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from lesionlab.data.patches import DEFAULT_PATCHES, candidate_patches
from lesionlab.data.records import Record
from lesionlab.training.activations import ActivationCache, activation_key

if TYPE_CHECKING:
    from lesionlab.training.trainer import Trainer

# Images whose patches are prepared at once: 16 x 24 patches at 224 px is ~58 MB of uint8.
_CHUNK = 16


def _release_free_memory() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim; a no-op elsewhere).

    Every kept entry leaves small allocations (numpy's shape and strides) on top of the heap, above the
    trunk's freed temporaries, so glibc cannot shrink the heap: without this, computing 2,500 patch entries
    (46 MB) grew the process by 5.5 GB.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


class PatchActivationCache(ActivationCache):
    """Frozen-trunk activations of each image's candidate patches (`candidate_patches`, seeded by the
    image's content key and `view_seed`), entry v = patch v."""

    _WHAT = "trunk activations of candidate patches"

    def _tag_suffix(self) -> str:
        return "_patches"

    def _views(self, decoded: np.ndarray, n_views: int, keys: Sequence[str]) -> np.ndarray:
        _release_free_memory()  # what the previous batch's temporaries left
        return candidate_patches(decoded, n_views, self.view_seed, keys=keys)


def patch_cache(trainer: Trainer) -> PatchActivationCache:
    """The patch cache beside `trainer`'s activation cache (same trunk, images, folder and device)."""
    trunk = trainer.runtime.activations
    if trunk is None:
        raise ValueError("the patch activation cache needs the fast path (freeze_stages > 0)")
    return PatchActivationCache(
        trunk.model,
        trunk.freeze_stages,
        trunk.images,
        view_seed=trunk.view_seed,
        cache_dir=trunk.cache_dir,
        batch_size=_CHUNK,
        device=trunk.device,
        show_progress=trunk.show_progress,
    )


@torch.inference_mode()
def patch_probabilities(
    trainer: Trainer, records: Sequence[Record], n_patches: int = DEFAULT_PATCHES
) -> np.ndarray:
    """(N, m, C) class probabilities of each record's m candidate patches under `trainer`'s model."""
    if n_patches < 1:
        raise ValueError(f"n_patches must be >= 1, got {n_patches}")
    out = np.empty((len(records), n_patches, trainer.model.num_classes), dtype=np.float32)
    cache = patch_cache(trainer) if trainer.fast else None
    for start in range(0, len(records), 256 if cache is not None else _CHUNK):
        chunk = records[start : start + (256 if cache is not None else _CHUNK)]
        paths = [Path(r.image_path) for r in chunk]
        if cache is not None:
            x = cache.get(paths, n_patches)  # (m, n, C, h, w) float16
        else:
            keys = [activation_key(p) for p in paths]
            images = trainer.images.get_many(paths)
            x = torch.from_numpy(candidate_patches(images, n_patches, 0, keys=keys))
        for j in range(n_patches):
            out[start : start + len(chunk), j] = trainer.runtime.probs_from(x[j])
        if cache is not None:
            # Memory holds one chunk's patches, not the pool's (N x m entries); the next round reads them
            # back from disk, which costs a few per cent of the tail's time.
            cache.release(paths, n_patches)
    return out
