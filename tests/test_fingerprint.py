"""Content keys: the same bytes anywhere give the same key; different bytes never do."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from lesionlab.data.fingerprint import content_key


def test_key_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    assert content_key(path) == hashlib.sha256(data).hexdigest()
    assert content_key(str(path)) == content_key(path)


def test_copies_moves_and_touches_keep_the_key(tmp_path: Path) -> None:
    original = tmp_path / "a.jpg"
    original.write_bytes(b"lesion" * 1000)
    key = content_key(original)
    (tmp_path / "elsewhere").mkdir()
    copy = Path(shutil.copy(original, tmp_path / "elsewhere" / "b.jpg"))
    assert content_key(copy) == key
    st = original.stat()
    os.utime(original, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert content_key(original) == key


def test_an_edited_file_gets_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"one" * 100)
    before = content_key(path)
    st = path.stat()
    path.write_bytes(b"two" * 100)  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert content_key(path) != before


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        content_key(tmp_path / "nope.jpg")
