"""What identifies an image file for caching and for seeding its augmented views: its bytes.

Keying caches by path, size and mtime made every copy, move or re-extraction of a data set (a new
checkout, a container that mounts the data afresh) look like new images: the caches were rebuilt and,
because the fast path seeds each image's fixed augmented views from its key, the training views and so
the results changed too. A hash of the content survives all of those and still changes when the image
does. Hashing reads the file once per process (a few ms for a 10 MB dermoscopy JPEG, far less than
decoding it); the result is remembered per (path, size, mtime), so a file edited in place is read again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20
_MEMO: dict[tuple[str, int, int], str] = {}


def content_key(path: Path | str) -> str:
    """The SHA-256 of the file's bytes (hex). Raises OSError (e.g. FileNotFoundError) as `open` does."""
    resolved = Path(path).expanduser().resolve()
    st = resolved.stat()
    memo_key = (str(resolved), st.st_size, st.st_mtime_ns)
    digest = _MEMO.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with open(resolved, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        digest = _MEMO[memo_key] = h.hexdigest()
    return digest
