"""Decoded image batches, produced by worker threads while the caller computes on the previous batch.

JPEG decoding, resizing and colour preprocessing (Pillow and NumPy release the GIL for all three) take
about as long as a forward pass of a small network on one core, so decoding the next batches in threads
while the model runs the current one roughly halves the wall time on two cores. Memory stays bounded:
at most `workers + prefetch` batches are decoded ahead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

Decode = Callable[[Path], np.ndarray]


def _decode_batch(paths: Sequence[Path], decode: Decode) -> np.ndarray:
    first = decode(paths[0])
    out = np.empty((len(paths), *first.shape), dtype=first.dtype)
    out[0] = first
    for i, path in enumerate(paths[1:], start=1):
        out[i] = decode(path)
    return out


def decoded_batches(
    paths: Sequence[Path | str],
    decode: Decode,
    batch_size: int = 16,
    workers: int = 1,
    prefetch: int = 1,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(start, images)` for consecutive batches of `paths`, in order.

    `workers` threads decode whole batches ahead of the consumer (0: decode in the caller's thread,
    nothing in parallel); `prefetch` extra batches are queued beyond one per worker.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 0 or prefetch < 0:
        raise ValueError(f"workers and prefetch must be >= 0, got {workers} and {prefetch}")
    paths = [Path(p) for p in paths]
    starts = range(0, len(paths), batch_size)
    if workers == 0:
        for start in starts:
            yield start, _decode_batch(paths[start : start + batch_size], decode)
        return
    ahead = workers + prefetch
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lesionlab-decode") as pool:
        queue: deque[tuple[int, Future[np.ndarray]]] = deque()
        pending = iter(starts)
        try:
            for start in pending:
                queue.append((start, pool.submit(_decode_batch, paths[start : start + batch_size], decode)))
                if len(queue) >= ahead:
                    break
            while queue:
                start, future = queue.popleft()
                nxt = next(pending, None)
                if nxt is not None:
                    batch = paths[nxt : nxt + batch_size]
                    queue.append((nxt, pool.submit(_decode_batch, batch, decode)))
                yield start, future.result()
        finally:
            for _, future in queue:
                future.cancel()
