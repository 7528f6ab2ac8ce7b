"""The CPU fast path's cache: activations of a frozen trunk, once per image and per fixed augmented view.

On two CPU cores a full EfficientNet-Lite0 fine-tune at 224 px runs at ~18 images/s; the first five
stages are ~70 % of the forward cost. Freezing them, computing their output once per image (and per fixed
augmented view, so training still sees augmentation) and training only the remaining stages from the cache
is several times faster, and the cache is reused across epochs, rounds, seeds and tasks. Entries are keyed
by the trunk's weights, resolution, preprocessing and view seed, and by each file's content, so a changed
image or model is never served stale while a copied or re-extracted data set keeps its cache and views.

A damaged entry (empty, truncated, wrong header or dtype) is recomputed like a missing one; a cache folder
that cannot be written (full disk, a file in the way) costs speed, not the run: one warning, and the
activations are kept in memory only.

An auxiliary head that reads the outputs of frozen stages (Kim et al. 2020's loss predictor) gets them from a
`PooledTapCache` beside the trunk's folder (`<trunk folder>_taps<stages>`): the global-average-pooled
output of each of those stages (C floats per stage, image and view), computed in the same pass as the trunk
activation. Runs without such a head never create, read or change it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lesionlab.data.augment import augmented_views
from lesionlab.data.cache import TMP_PREFIX, ImageCache, read_array, remove_stale_temporaries, write_failure
from lesionlab.data.fingerprint import content_key
from lesionlab.io import shared_mode
from lesionlab.models.classifier import LesionClassifier
from lesionlab.progress import progress

# Bump when the meaning of a cached entry changes (view recipe, dtype, image decoding), so old entries are
# never read. 4: images decoded by their real range in every Pillow mode (data.cache format 3). 5: the trunk
# runs in fixed-shape (zero-padded) batches, so an entry no longer depends on its batch neighbours.
# 6: EXIF orientation applied by the one decoder (data.cache format 4).
ACTIVATION_FORMAT = 6
_SHARED_MEMORY: dict[str, dict[tuple[str, int], np.ndarray]] = {}


def clear_memory() -> None:
    """Drop the in-process activation memory (the disk cache stays)."""
    _SHARED_MEMORY.clear()


def trunk_fingerprint(model: LesionClassifier, freeze_stages: int) -> str:
    """Hash of the frozen trunk's parameters and buffers: a different trunk never reuses the cache."""
    h = hashlib.sha256(f"{model.backbone_name}:{freeze_stages}".encode())
    for module in model.trunk_modules(freeze_stages):
        for name, tensor in module.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(model.mean.cpu().numpy().tobytes() + model.std.cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def activation_dir_name(
    fingerprint: str, size: int, preprocessing: str, view_seed: int, resize: str = "squash"
) -> str:
    """The folder of one trunk and image setting; `squash` (the default resize) adds nothing to the name."""
    suffix = "" if resize == "squash" else f"_{resize}"
    return f"f{ACTIVATION_FORMAT}_{fingerprint}_{size}_{preprocessing}_s{view_seed}{suffix}"


def activation_key(path: Path) -> str:
    """An image's key in the cache, which also seeds its augmented views."""
    return content_key(path)[:24]


def fixed_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """`x` padded with zero images to `size` rows. With one batch shape the convolution kernels compute
    every image identically whoever its batch-mates are (batches of 8 and 32 differed in ~0.6 % of the
    float16 activations), so an entry never depends on which images were cached with it: a warm cache,
    another strategy's order, or worker processes sharing one disk cache all give a serial run's numbers."""
    if x.shape[0] >= size:
        return x
    return torch.cat([x, x.new_zeros((size - x.shape[0], *x.shape[1:]))])


def frozen_tap_stages(heads: Sequence[object], freeze_stages: int) -> tuple[int, ...]:
    """The frozen stages (< `freeze_stages`) whose pooled outputs the heads read (their `tap_stages`)."""
    return tuple(sorted({s for h in heads for s in getattr(h, "tap_stages", ()) if s < freeze_stages}))


class ActivationCache:
    """Frozen-trunk activations (float16) per image path and view; on disk when `cache_dir` is given."""

    _DTYPE: type = np.float16  # of an entry
    _NDIM = 3  # (C, h, w)

    def __init__(
        self,
        model: LesionClassifier,
        freeze_stages: int,
        images: ImageCache,
        view_seed: int = 0,
        cache_dir: Path | None = None,
        batch_size: int = 64,
        device: torch.device | None = None,
        show_progress: bool = True,
    ) -> None:
        self.model = model
        self.freeze_stages = freeze_stages
        self.images = images
        self.view_seed = view_seed
        self.batch_size = batch_size
        self.device = device or torch.device("cpu")
        self.show_progress = show_progress
        self.cache_dir = cache_dir
        self._pooled: dict[tuple[int, ...], PooledTapCache] = {}
        fingerprint = trunk_fingerprint(model, freeze_stages)
        tag = activation_dir_name(fingerprint, images.size, images.preprocessing, view_seed, images.resize)
        tag += self._tag_suffix()
        # Trainers built on the same trunk (every round and seed of an experiment) share one memory cache.
        self._memory: dict[tuple[str, int], np.ndarray] = _SHARED_MEMORY.setdefault(tag, {})
        self._shape: tuple[int, ...] | None = None
        self._write_failed = False
        self.dir: Path | None = None
        if cache_dir is not None:
            self.dir = Path(cache_dir) / "activations" / tag
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                self._cannot_write(e)
            else:
                remove_stale_temporaries(self.dir)

    def _tag_suffix(self) -> str:
        return ""

    def pooled_taps(self, stages: Sequence[int]) -> PooledTapCache:
        """The cache of the pooled outputs of `stages` (frozen ones) for this trunk, made once."""
        key = tuple(sorted(stages))
        if key not in self._pooled:
            self._pooled[key] = PooledTapCache(self, key)
        return self._pooled[key]

    def get(self, paths: Sequence[Path], n_views: int = 1, taps: Sequence[int] = ()) -> torch.Tensor:
        """Activations shaped (n_views, N, C, h, w), float16; computes only what is not cached yet.

        With `taps` (frozen stages), the pooled outputs of those stages follow as extra channels
        (`PooledTapCache.pack`; `unpack` separates them again).
        """
        if taps:
            cache = self.pooled_taps(taps)
            pooled = cache.get(paths, n_views)  # first: its pass also caches missing trunk activations
            return cache.pack(self.get(paths, n_views), pooled)
        keys = [activation_key(Path(p)) for p in paths]
        missing = [i for i, k in enumerate(keys) if not self._ready(k, n_views)]
        if missing:
            self._compute([paths[i] for i in missing], [keys[i] for i in missing], n_views)
        return torch.from_numpy(
            np.stack([np.stack([self._memory[(k, v)] for k in keys]) for v in range(n_views)])
        )

    def release(self, paths: Sequence[Path], n_views: int = 1) -> None:
        """Drop these images' entries from memory once they are safely on disk (the next use reads them
        back), so scoring a large pool a chunk at a time holds one chunk, not the whole pool
        (`selection.memmap.streamed_outputs`). Without a writable disk cache nothing is dropped."""
        if self.dir is None or self._write_failed:
            return
        for path in paths:
            key = activation_key(Path(path))
            for view in range(n_views):
                self._memory.pop((key, view), None)

    def unpack(self, x: torch.Tensor, taps: Sequence[int]) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """A batch of `get(..., taps=taps)` -> the trunk activations and {stage: pooled output (B, C_s)}."""
        return self.pooled_taps(taps).unpack(x) if taps else (x, {})

    def _entry(self, key: str, view: int) -> Path:
        assert self.dir is not None
        return self.dir / f"{key}_v{view}.npy"

    def _ready(self, key: str, n_views: int) -> bool:
        """Whether every view of `key` is in memory, after reading the intact ones from disk."""
        for v in range(n_views):
            if (key, v) not in self._memory:
                saved = self._read(key, v)
                if saved is None:
                    return False
                self._memory[(key, v)] = saved
        return True

    def _read(self, key: str, view: int) -> np.ndarray | None:
        """An intact disk entry of the shape every other entry has, or None (missing or damaged)."""
        if self.dir is None:
            return None
        value = read_array(self._entry(key, view), self._DTYPE)
        if (
            value is None
            or value.ndim != self._NDIM
            or (self._shape is not None and value.shape != self._shape)
        ):
            return None
        self._shape = value.shape
        return value

    def store(self, key: str, view: int, value: np.ndarray) -> None:
        # The first value stored wins. CPU convolutions round differently with the batch size, so an entry
        # computed again (view 0 of an image when more views are asked for, or an entry another run wrote
        # meanwhile) would otherwise change what later reads see, and a run on a warm cache (resumed or
        # repeated) would differ from a cold one.
        if (key, view) in self._memory:
            return
        saved = self._read(key, view)
        if saved is not None:
            self._memory[(key, view)] = saved
            return
        self._shape = self._shape or value.shape
        self._memory[(key, view)] = value
        if self.dir is not None and not self._write_failed:
            self._write(self._entry(key, view), value)

    def _write(self, entry: Path, value: np.ndarray) -> None:
        """Atomic, under a unique temporary name (runs side by side share the folder)."""
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=TMP_PREFIX, suffix=".npy")
            os.chmod(tmp, shared_mode())
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, value, allow_pickle=False)
            os.replace(tmp, entry)
            tmp = None
        except OSError as e:
            self._cannot_write(e)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _cannot_write(self, error: OSError) -> None:
        """Warn once; the activations stay in memory for this process."""
        self._write_failed = True
        warnings.warn(write_failure(self.dir, error), RuntimeWarning, stacklevel=4)

    _WHAT = "trunk activations"  # in the progress bar

    @torch.inference_mode()
    def _compute(self, paths: Sequence[Path], keys: Sequence[str], n_views: int) -> None:
        self.model.eval().to(self.device)
        starts = range(0, len(paths), self.batch_size)
        what = f"{self._WHAT} of {len(paths)} images"
        described = f"caching {what} ({n_views} view(s), {len(starts)} batch(es))"
        for start in progress(starts, described, enabled=self.show_progress):
            chunk = list(paths[start : start + self.batch_size])
            decoded = self.images.get_many(chunk)
            chunk_keys = keys[start : start + self.batch_size]
            views = self._views(decoded, n_views, chunk_keys)
            for v in range(n_views):
                x = torch.from_numpy(views[v]).to(self.device).permute(0, 3, 1, 2).float().div_(255)
                x = fixed_batch(x, self.batch_size).contiguous(memory_format=torch.channels_last)
                self._run(x, chunk_keys, v)

    def _views(self, decoded: np.ndarray, n_views: int, keys: Sequence[str]) -> np.ndarray:
        """(n_views, N, H, W, 3) uint8 inputs of one batch; a subclass caches other views (ACFT's patches)."""
        # Views are seeded per image key and view, so the cache never depends on batching or order.
        if n_views == 1:
            return decoded[None]
        return augmented_views(decoded, n_views, self.view_seed, keys=keys)

    def _run(self, x: torch.Tensor, keys: Sequence[str], view: int) -> None:
        """Compute and store the entries of one batch of one view."""
        acts = self.model.run_trunk(x, self.freeze_stages).half().cpu().numpy()
        for i, key in enumerate(keys):
            self.store(key, view, np.ascontiguousarray(acts[i]))


class PooledTapCache(ActivationCache):
    """Global-average-pooled outputs of some frozen stages per image and view: float32 (sum of their
    channels,), concatenated in stage order, in a folder of their own beside the trunk's.

    Missing entries are computed in one trunk pass that also stores the trunk activations (into `trunk`,
    where an entry already there wins). `pack` and `unpack` carry the pooled vectors through the trainer
    inside the activation tensor, as `k` extra channels after the trunk's (zero-padded, float16), so that
    every batch of activations carries its images' pooled taps.
    """

    _DTYPE = np.float32
    _NDIM = 1
    _WHAT = "trunk activations and pooled taps"

    def __init__(self, trunk: ActivationCache, stages: Sequence[int]) -> None:
        self.trunk = trunk
        self.stages = tuple(stages)
        if not self.stages or max(self.stages) >= trunk.freeze_stages or min(self.stages) < 0:
            raise ValueError(f"pooled taps need frozen stages in [0, {trunk.freeze_stages - 1}]")
        shapes = trunk.model.stage_shapes()
        self.widths = [shapes[s][0] for s in self.stages]
        self.trunk_channels = shapes[trunk.freeze_stages - 1][0]
        super().__init__(
            trunk.model,
            trunk.freeze_stages,
            trunk.images,
            trunk.view_seed,
            trunk.cache_dir,
            trunk.batch_size,
            trunk.device,
            trunk.show_progress,
        )

    def _tag_suffix(self) -> str:
        return "_taps" + "-".join(str(s) for s in self.stages)

    def _run(self, x: torch.Tensor, keys: Sequence[str], view: int) -> None:
        acts, pooled = self.model.run_trunk_pooled(x, self.freeze_stages, self.stages)
        acts, pooled = acts.half().cpu().numpy(), pooled.cpu().numpy()
        for i, key in enumerate(keys):
            self.trunk.store(key, view, np.ascontiguousarray(acts[i]))
            self.store(key, view, np.ascontiguousarray(pooled[i]))

    def pack(self, acts: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Trunk activations (..., C, h, w) and their pooled taps (..., P) -> (..., C + k, h, w) float16."""
        lead, (h, w), p = acts.shape[:-3], acts.shape[-2:], pooled.shape[-1]
        k = -(-p // (h * w))
        extra = torch.zeros(*lead, k * h * w, dtype=acts.dtype)
        extra[..., :p] = pooled.to(acts.dtype)
        return torch.cat([acts, extra.reshape(*lead, k, h, w)], dim=-3)

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """(B, C + k, h, w) -> the trunk activations (B, C, h, w) and {stage: pooled output (B, C_s)};
        activations without extra channels (e.g. of synthetic images) come back with no pooled taps."""
        if x.shape[1] == self.trunk_channels:
            return x, {}
        pooled = x[:, self.trunk_channels :].flatten(1)[:, : sum(self.widths)].float()
        parts = torch.split(pooled, self.widths, dim=1)
        return x[:, : self.trunk_channels], dict(zip(self.stages, parts, strict=True))
