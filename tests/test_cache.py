"""Image cache: hits skip decoding, edited files are decoded again, writes never leave partial entries."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lesionlab.data.cache as cache_mod
from lesionlab.data.cache import ImageCache, default_cache_dir
from lesionlab.errors import DataError


def _write_image(path: Path, seed: int, shape: tuple[int, int] = (24, 30)) -> Path:
    arr = np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every real decode the cache performs."""
    calls: list[Path] = []
    real = cache_mod.load_image

    def counting(path: Path, size: int | None, preprocessing: str = "none", **kw: str) -> np.ndarray:
        calls.append(Path(path))
        return real(path, size, preprocessing, **kw)

    monkeypatch.setattr(cache_mod, "load_image", counting)
    return calls


def test_disk_hit_returns_identical_array_without_decoding(
    tmp_path: Path, decode_counter: list[Path]
) -> None:
    img = _write_image(tmp_path / "a.png", 0)
    cache = ImageCache(tmp_path / "cache", 16, "gray_world")
    first = cache.get(img)
    assert first.shape == (16, 16, 3) and first.dtype == np.uint8
    assert len(decode_counter) == 1
    second = cache.get(img)
    assert np.array_equal(first, second)
    assert len(decode_counter) == 1
    entries = list((tmp_path / "cache" / f"v{cache_mod.CACHE_FORMAT_VERSION}_16_gray_world").glob("*.npy"))
    assert len(entries) == 1
    # A new cache object (e.g. the next run) reads the same entry instead of decoding.
    third = ImageCache(tmp_path / "cache", 16, "gray_world").get(str(img))
    assert np.array_equal(first, third) and len(decode_counter) == 1


def test_settings_have_separate_entries(tmp_path: Path, decode_counter: list[Path]) -> None:
    img = _write_image(tmp_path / "a.png", 0)
    ImageCache(tmp_path / "c", 16, "none").get(img)
    ImageCache(tmp_path / "c", 8, "none").get(img)
    ImageCache(tmp_path / "c", 16, "grayscale_minmax").get(img)
    assert len(decode_counter) == 3
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        f"v{cache_mod.CACHE_FORMAT_VERSION}_16_grayscale_minmax",
        f"v{cache_mod.CACHE_FORMAT_VERSION}_16_none",
        f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none",
    ]


def test_rewritten_file_is_decoded_again(tmp_path: Path, decode_counter: list[Path]) -> None:
    img = _write_image(tmp_path / "a.png", 0)
    cache = ImageCache(tmp_path / "cache", 16, "none")
    before = cache.get(img)
    mtime = img.stat().st_mtime_ns
    _write_image(img, 1)
    os.utime(img, ns=(mtime + 10**9, mtime + 10**9))
    after = cache.get(img)
    assert len(decode_counter) == 2
    assert not np.array_equal(before, after)
    assert np.array_equal(after, cache_mod.load_image(img, 16, "none"))


def test_a_copied_data_set_is_served_from_the_cache(tmp_path: Path, decode_counter: list[Path]) -> None:
    """A re-extracted or moved data set (new paths, new mtimes, same bytes) is not decoded again."""
    img = _write_image(tmp_path / "a.png", 0)
    cache = ImageCache(tmp_path / "cache", 16, "none")
    first = cache.get(img)
    (tmp_path / "copy").mkdir()
    moved = tmp_path / "copy" / "renamed.png"
    moved.write_bytes(img.read_bytes())
    assert np.array_equal(ImageCache(tmp_path / "cache", 16, "none").get(moved), first)
    assert len(decode_counter) == 1


def test_no_temporaries_left_and_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [_write_image(tmp_path / f"{i}.png", i) for i in range(3)]
    cache = ImageCache(tmp_path / "cache", 8, "none")
    cache.get_many(paths)
    entry_dir = tmp_path / "cache" / f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none"
    names = sorted(p.name for p in entry_dir.iterdir())
    assert len(names) == 3 and all(n.endswith(".npy") and not n.startswith(".") for n in names)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # a kill in the middle of writing

    monkeypatch.setattr(cache_mod.np, "save", crash)
    extra = _write_image(tmp_path / "extra.png", 9)
    with pytest.raises(KeyboardInterrupt):
        cache.get(extra)
    assert sorted(p.name for p in entry_dir.iterdir()) == names


def test_stale_temporary_is_removed_and_corrupt_entry_rewritten(
    tmp_path: Path, decode_counter: list[Path]
) -> None:
    img = _write_image(tmp_path / "a.png", 0)
    cache = ImageCache(tmp_path / "cache", 8, "none")
    good = cache.get(img)
    entry_dir = tmp_path / "cache" / f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none"
    (entry,) = entry_dir.glob("*.npy")
    entry.write_bytes(b"\x93NUMPY garbage")
    assert np.array_equal(ImageCache(tmp_path / "cache", 8, "none").get(img), good)
    assert len(decode_counter) == 2
    stale = entry_dir / ".tmp-left-by-a-kill.npy"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    ImageCache(tmp_path / "cache", 8, "none")
    assert not stale.exists()


def _damage(entry: Path, how: str) -> None:
    data = entry.read_bytes()
    if how == "empty":
        entry.write_bytes(b"")
    elif how == "truncated":
        entry.write_bytes(data[: len(data) - 7])
    elif how == "huge_shape":  # a header claiming ~200 GB: must not be allocated
        header = "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999, 8, 3), }"
        header = header.ljust(117) + "\n"
        entry.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"x")
    elif how == "wrong_dtype":
        np.save(entry, np.zeros((8, 8, 3), np.float32))
    elif how == "pickled":
        np.save(entry, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif how == "directory":
        entry.unlink()
        entry.mkdir()


@pytest.mark.parametrize("how", ["empty", "truncated", "huge_shape", "wrong_dtype", "pickled", "directory"])
def test_every_kind_of_damaged_entry_is_a_miss(tmp_path: Path, decode_counter: list[Path], how: str) -> None:
    img = _write_image(tmp_path / "a.png", 0)
    good = ImageCache(tmp_path / "cache", 8, "none").get(img)
    (entry,) = (tmp_path / "cache" / f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none").glob("*.npy")
    _damage(entry, how)
    if how == "directory":  # cannot be replaced: decoded, with the one-line warning
        with pytest.warns(RuntimeWarning, match="cannot be written"):
            assert np.array_equal(ImageCache(tmp_path / "cache", 8, "none").get(img), good)
        assert len(decode_counter) == 2
    else:  # rewritten, so the third run reads it again
        assert np.array_equal(ImageCache(tmp_path / "cache", 8, "none").get(img), good)
        assert len(decode_counter) == 2
        assert np.array_equal(ImageCache(tmp_path / "cache", 8, "none").get(img), good)
        assert len(decode_counter) == 2


def test_resize_mode_is_part_of_the_key(tmp_path: Path, decode_counter: list[Path]) -> None:
    img = _write_image(tmp_path / "a.png", 0, shape=(12, 30))
    out = {
        m: ImageCache(tmp_path / "c", 8, "none", resize=m).get(img) for m in ("squash", "center_crop", "pad")
    }
    assert len(decode_counter) == 3
    assert not np.array_equal(out["squash"], out["center_crop"]) and not np.array_equal(
        out["squash"], out["pad"]
    )
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none",
        f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none_center_crop",
        f"v{cache_mod.CACHE_FORMAT_VERSION}_8_none_pad",
    ]
    with pytest.raises(ValueError, match="center_crop"):
        ImageCache(tmp_path, 8, "none", resize="stretch")


def test_full_disk_warns_once_naming_folder_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [_write_image(tmp_path / f"{i}.png", i) for i in range(2)]
    cache = ImageCache(tmp_path / "cache", 8, "none")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_mod.np, "save", full)
    with pytest.warns(RuntimeWarning) as caught:
        batch = cache.get_many(paths)
    assert batch.shape == (2, 8, 8, 3) and len(caught) == 1
    message = str(caught[0].message)
    assert "No space left on device" in message and str(tmp_path / "cache") in message
    assert "lesionlab cache clear" in message and "LESIONLAB_CACHE" in message and "\n" not in message
    assert not any((tmp_path / "cache").glob("**/.tmp-*"))


def test_in_memory_mode(tmp_path: Path, decode_counter: list[Path]) -> None:
    paths = [_write_image(tmp_path / f"{i}.png", i) for i in range(4)]
    cache = ImageCache(None, 12, "none")
    batch = cache.get_many(paths, progress=True)
    assert batch.shape == (4, 12, 12, 3) and batch.dtype == np.uint8
    again = cache.get_many(list(reversed(paths)))
    assert np.array_equal(again, batch[::-1])
    assert len(decode_counter) == 4
    # Callers may modify what they get without corrupting the cache.
    cache.get(paths[0])[:] = 0
    assert np.array_equal(cache.get(paths[0]), batch[0])
    assert not any(tmp_path.glob("**/*.npy"))


def test_get_many_empty_and_missing_file(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache", 8, "none")
    assert cache.get_many([]).shape == (0, 8, 8, 3)
    with pytest.raises(DataError, match=r"gone\.jpg cannot be read as an image: file not found"):
        cache.get(tmp_path / "gone.jpg")


def test_unwritable_cache_warns_and_still_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache directory should be")
    img = _write_image(tmp_path / "a.png", 0)
    cache = ImageCache(blocker, 8, "none")
    with pytest.warns(RuntimeWarning, match="LESIONLAB_CACHE"):
        out = cache.get(img)
    assert out.shape == (8, 8, 3)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="grayscale_minmax"):
        ImageCache(tmp_path, 8, "sepia")
    with pytest.raises(ValueError, match="positive"):
        ImageCache(tmp_path, 0, "none")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESIONLAB_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("LESIONLAB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "lesionlab"
