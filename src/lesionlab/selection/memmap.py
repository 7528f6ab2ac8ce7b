"""Pool evidence on disk: `.npy` files written in chunks and read back memory-mapped.

A pool of a million images gives probabilities (N, C), embeddings (N, 1280 floats = 5 GB) and MC
probabilities (T, N, C); holding them in RAM is what stops a large pool. Here each array is a standard
`.npy` file (readable by `np.load(..., mmap_mode="r")` anywhere) filled a chunk of rows at a time and
renamed into place when complete, so a killed writer never leaves a half-written array under the real
name. Readers get read-only memory maps: the operating system pages rows in and out, and a strategy
that tried to change its evidence would fail (the contract says it never does).

Strategies that compare every pair of unlabelled images (`all_pairs = True` on the class; no built-in
strategy does) cost N^2 and are refused above `ALL_PAIRS_LIMIT` images with a message naming the fix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.errors import ConfigError
from lesionlab.io import DiskFullError, shared_mode

# Above this many unlabelled images an all-pairs strategy needs > 3 GB for a float32 N x N matrix.
ALL_PAIRS_LIMIT = 30_000
# Rows per chunk when copying or streaming evidence to disk: a multiple of the trainer's 128-image batch.
CHUNK_ROWS = 4096


def open_reserved(tmp: str | Path, final: Path, dtype: Any, shape: tuple[int, ...]) -> np.memmap:
    """A writable `.npy` memory map at `tmp` whose disk blocks are reserved before any row is written.

    A memory map of a sparse file takes its blocks only as rows are written; on a full disk the kernel
    then kills the process with SIGBUS ("Bus error": no message, the temporary file and lock left
    behind). Reserving the whole file first turns that into a `DiskFullError` naming `final`'s folder
    and the size needed. File systems that cannot reserve (EINVAL, EOPNOTSUPP) are written as before."""
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=tuple(shape))
    size = os.path.getsize(tmp)
    if size and hasattr(os, "posix_fallocate"):
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                del arr
                raise DiskFullError(Path(final), size, exact=True) from None
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        finally:
            os.close(fd)
    return arr


class EvidenceStore:
    """A folder of evidence arrays, one `<name>.npy` each; `writer` fills one, `read` memory-maps one."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"evidence array name {name!r} must be a plain file name")
        return self.folder / f"{name}.npy"

    @contextlib.contextmanager
    def writer(self, name: str, shape: tuple[int, ...], dtype: Any = np.float32) -> Iterator[np.memmap]:
        """A writable memory map of `shape` to fill (in chunks); it becomes `<name>.npy` when the block
        ends without an error, and is removed otherwise."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".npy.tmp")
        os.close(fd)
        os.chmod(tmp, shared_mode())
        try:
            arr = open_reserved(tmp, self.path(name), dtype, shape)
            yield arr
            arr.flush()
            del arr
            os.replace(tmp, self.path(name))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, name: str) -> np.memmap:
        """The array `<name>.npy`, memory-mapped read-only."""
        path = self.path(name)
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: the evidence {name!r} was never written here")
        return np.load(path, mmap_mode="r")

    def put(self, name: str, array: Any, row_axis: int = 0, chunk_rows: int = CHUNK_ROWS) -> np.memmap:
        """Copy `array` (in memory or itself memory-mapped) to disk `chunk_rows` rows at a time, along
        `row_axis`; returns the read-only memory map."""
        array = np.asarray(array) if not isinstance(array, np.ndarray) else array
        with self.writer(name, array.shape, array.dtype) as out:
            n = array.shape[row_axis] if array.ndim else 0
            for start in range(0, n, chunk_rows):
                index = [slice(None)] * array.ndim
                index[row_axis] = slice(start, start + chunk_rows)
                out[tuple(index)] = array[tuple(index)]
        return self.read(name)


def evidence_to_disk(evidence: Any, store: EvidenceStore, chunk_rows: int = CHUNK_ROWS) -> Any:
    """The same `Evidence` with every array moved to `store` (memory-mapped); mappings keep their keys
    as `<kind>.<key>` files. What the loop does for a pool above `EvidenceSettings.disk_above`."""
    from lesionlab.selection.base import Evidence, evidence_kinds

    kinds = evidence_kinds()
    arrays: dict[str, Any] = {}
    for name, value in evidence.arrays.items():
        kind = kinds[name]
        if kind.mapping:
            arrays[name] = {k: store.put(f"{name}.{k}", v, 0, chunk_rows) for k, v in value.items()}
        else:
            arrays[name] = store.put(name, value, kind.row_axis or 0, chunk_rows)
    return Evidence(evidence.ids, **arrays)


def check_all_pairs(strategy: Any, n_unlabeled: int, limit: int = ALL_PAIRS_LIMIT) -> None:
    """Refuse a strategy that compares every pair of unlabelled images on a pool above `limit`."""
    if getattr(strategy, "all_pairs", False) and n_unlabeled > limit:
        gigabytes = 4.0 * n_unlabeled**2 / 1e9
        raise ConfigError(
            f"strategy {strategy.name} compares every pair of the {n_unlabeled:,} unlabelled images "
            f"({gigabytes:,.0f} GB for one float32 N x N matrix), more than memory holds above "
            f"{limit:,} images: choose a strategy that scales linearly (least_confidence, entropy, "
            "coreset/k-center, ...) or score a random subset of the pool"
        )


def streamed_outputs(
    trainer: Any, records: Any, mc_samples: int, store: EvidenceStore, chunk_rows: int = CHUNK_ROWS
) -> tuple[np.memmap, np.memmap, np.ndarray]:
    """`Trainer.outputs` over `records` a chunk at a time, written to `store` as `probs`, `embeddings`
    and (if `mc_samples`) `mc_probs`; only one chunk's inputs and outputs are in memory at once.

    Chunks are multiples of the trainer's 128-image inference batch, so probabilities and embeddings equal
    the in-memory pass. MC-dropout masks are drawn per chunk from the seed and the chunk's ids.
    On the CPU fast path each chunk's trunk activations are released from memory once on disk.
    """
    n = len(records)
    if chunk_rows % 128:
        raise ValueError(f"chunk_rows must be a multiple of 128 (the inference batch), got {chunk_rows}")
    num_classes, dim = trainer.model.num_classes, trainer.model.embed_dim
    mc_shape = (mc_samples, n, num_classes)
    with (
        store.writer("probs", (n, num_classes)) as probs,
        store.writer("embeddings", (n, dim)) as embeds,
        store.writer("mc_probs", mc_shape if mc_samples else (0,)) as mc,
    ):
        for start in range(0, n, chunk_rows):
            chunk = records[start : start + chunk_rows]
            p, e, m = trainer.outputs(chunk, mc_samples)
            probs[start : start + len(p)] = p
            embeds[start : start + len(e)] = e
            if mc_samples:
                mc[:, start : start + len(p)] = m
            trainer.runtime.release(chunk)  # e.g. the fast path's activations, on disk: not kept
    mc_out = store.read("mc_probs") if mc_samples else np.empty((0,))
    return store.read("probs"), store.read("embeddings"), mc_out
