"""`lesionlab cache`: both caches listed, old formats marked stale, only cache folders removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from lesionlab.cache_maintenance import cache_folders, clear_cache
from lesionlab.cli import app
from lesionlab.data.cache import CACHE_FORMAT_VERSION, ImageCache
from lesionlab.training.activations import ACTIVATION_FORMAT

runner = CliRunner()


def _cache(tmp_path: Path) -> Path:
    """A cache with a current decoded folder (real entries), an old unprefixed one, a current and an old
    activation folder, and a user's own folder that must never be touched."""
    root = tmp_path / "cache"
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(img)
    ImageCache(root, 16, "none").get(img)
    (root / "16_gray_world").mkdir()
    (root / "16_gray_world" / "old.npy").write_bytes(b"x" * 1000)
    for fmt in (ACTIVATION_FORMAT, ACTIVATION_FORMAT - 1):
        folder = root / "activations" / f"f{fmt}_0123456789abcdef_224_gray_world_s0"
        folder.mkdir(parents=True)
        (folder / "k_v0.npy").write_bytes(b"y" * 500)
    # Folders that are not ours, even where the name looks like a cache folder's.
    for name, file in (("my_photos", "keep.jpg"), ("2024_photos", "keep.jpg"), ("32_none", "notes.txt")):
        (root / name).mkdir()
        (root / name / file).write_bytes(b"z")
    return root


def test_folders_are_listed_with_their_size_and_state(tmp_path: Path) -> None:
    root = _cache(tmp_path)
    folders = {f.path.name: f for f in cache_folders(root)}
    assert set(folders) == {
        f"v{CACHE_FORMAT_VERSION}_16_none",
        "16_gray_world",
        f"f{ACTIVATION_FORMAT}_0123456789abcdef_224_gray_world_s0",
        f"f{ACTIVATION_FORMAT - 1}_0123456789abcdef_224_gray_world_s0",
    }
    current = folders[f"v{CACHE_FORMAT_VERSION}_16_none"]
    assert not current.stale and current.files == 1
    assert folders["16_gray_world"].stale and folders["16_gray_world"].bytes == 1000
    assert folders[f"f{ACTIVATION_FORMAT - 1}_0123456789abcdef_224_gray_world_s0"].stale
    assert cache_folders(tmp_path / "absent") == []


def test_clearing_stale_keeps_current_and_foreign_folders(tmp_path: Path) -> None:
    root = _cache(tmp_path)
    removed = clear_cache(root, stale_only=True)
    assert sorted(f.path.name for f in removed) == [
        "16_gray_world",
        f"f{ACTIVATION_FORMAT - 1}_0123456789abcdef_224_gray_world_s0",
    ]
    assert [f.stale for f in cache_folders(root)] == [False, False]
    clear_cache(root)
    assert cache_folders(root) == []
    for name, file in (("my_photos", "keep.jpg"), ("2024_photos", "keep.jpg"), ("32_none", "notes.txt")):
        assert (root / name / file).exists()


def test_cli_info_and_clear(tmp_path: Path) -> None:
    root = _cache(tmp_path)
    info = runner.invoke(app, ["cache", "info", "--cache-dir", str(root)], terminal_width=200)
    assert info.exit_code == 0, info.output
    assert "16_gray_world" in info.output and "stale" in info.output and "in use" in info.output

    declined = runner.invoke(app, ["cache", "clear", "--cache-dir", str(root)], input="n\n")
    assert declined.exit_code != 0 and len(cache_folders(root)) == 4

    stale = runner.invoke(app, ["cache", "clear", "--stale", "--yes", "--cache-dir", str(root)])
    assert stale.exit_code == 0 and "removed 2 folders" in stale.output
    assert len(cache_folders(root)) == 2

    everything = runner.invoke(app, ["cache", "clear", "--cache-dir", str(root)], input="y\n")
    assert everything.exit_code == 0 and cache_folders(root) == []
    again = runner.invoke(app, ["cache", "clear", "--yes", "--cache-dir", str(root)])
    assert "nothing to remove" in again.output


def test_resize_folders_are_listed_and_the_previous_decoding_is_stale(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(img)
    ImageCache(root, 16, "none", resize="pad").get(img)
    (root / "v2_16_none").mkdir()  # decoded before 16-bit and float images kept their range
    (root / "v2_16_none" / "e.npy").write_bytes(b"x")
    act = root / "activations" / f"f{ACTIVATION_FORMAT}_0123456789abcdef_224_none_s0_center_crop"
    act.mkdir(parents=True)
    (act / "k_v0.npy").write_bytes(b"y")
    assert {f.path.name: f.stale for f in cache_folders(root)} == {
        f"v{CACHE_FORMAT_VERSION}_16_none_pad": False,
        "v2_16_none": True,
        act.name: False,
    }


def test_listing_while_another_run_writes_entries(tmp_path: Path) -> None:
    """A run writing entries (temporary file, then rename) must not make `cache info` fail or skip the
    folder; listing twice and stat-ing later did both, now and then."""
    import os
    import threading

    root = tmp_path / "cache"
    folder = root / f"v{CACHE_FORMAT_VERSION}_16_none"
    folder.mkdir(parents=True)
    (folder / "first.npy").write_bytes(b"x")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            tmp = folder / f".tmp-{i}.npy"
            tmp.write_bytes(b"y")
            os.replace(tmp, folder / f"{i % 5}.npy")
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(1000):
            assert [f.path.name for f in cache_folders(root)] == [f"v{CACHE_FORMAT_VERSION}_16_none"]
    finally:
        stop.set()
        thread.join()


def test_pooled_tap_folders_are_listed_and_cleared_with_their_trunk(tmp_path: Path) -> None:
    """The loss predictor's pooled taps live beside the trunk activations (`..._taps1-2-4`)."""
    for fmt in (ACTIVATION_FORMAT, ACTIVATION_FORMAT - 1):
        folder = tmp_path / "activations" / f"f{fmt}_0123456789abcdef_224_gray_world_s0_taps1-2-4"
        folder.mkdir(parents=True)
        (folder / "entry.npy").write_bytes(b"x" * 10)
    folders = {f.path.name: f for f in cache_folders(tmp_path)}
    current = f"f{ACTIVATION_FORMAT}_0123456789abcdef_224_gray_world_s0_taps1-2-4"
    old = f"f{ACTIVATION_FORMAT - 1}_0123456789abcdef_224_gray_world_s0_taps1-2-4"
    assert not folders[current].stale and folders[old].stale
    clear_cache(tmp_path, stale_only=True)
    assert (tmp_path / "activations" / current).is_dir() and not (tmp_path / "activations" / old).exists()
