"""Atomic writes use unique temporary names: a file another run is writing never collides with ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lesionlab.io import atomic_file, write_text
from lesionlab.models.registry import create_classifier, load_lesionlab_checkpoint, save_checkpoint


def test_atomic_file_whole_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    with atomic_file(target) as fh:
        fh.write(b"first")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as fh:
        fh.write(b"half")
        raise KeyboardInterrupt  # killed mid-write
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_two_writers_side_by_side_do_not_share_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    with atomic_file(target, "w") as one, atomic_file(target, "w") as two:
        assert one.name != two.name
        one.write("from run one")
        two.write("from run two")
    assert target.read_text() in ("from run one", "from run two")
    write_text(target, "again")
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_save_checkpoint_does_not_use_a_fixed_temporary_name(tmp_path: Path) -> None:
    model = create_classifier("efficientnet_lite0", 2, "none", seed=0)
    path = tmp_path / "model.pt"
    # What another run saving the same checkpoint would hold open under the old fixed name.
    (tmp_path / "model.pt.tmp").mkdir()
    save_checkpoint(model, path, {"classes": ["a", "b"]})  # was IsADirectoryError
    other = create_classifier("efficientnet_lite0", 2, "none", seed=1)
    assert load_lesionlab_checkpoint(other, path)["classes"] == ["a", "b"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, other.state_dict()[name]), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.pt.tmp"]


def test_atomic_files_get_the_umask_mode_not_0600(tmp_path: Path) -> None:
    import os

    from lesionlab.io import write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "report.txt", "shared")
        assert (tmp_path / "report.txt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_text_is_written_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Under an ASCII locale a text-mode write of '±' (in every mean ± s.e.) raised; now it is UTF-8."""
    import os
    import subprocess
    import sys

    target = tmp_path / "summary.md"
    code = f"from lesionlab.io import write_text; write_text({str(target)!r}, 'mean \\u00b1 s.e.')"
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert target.read_bytes().decode("utf-8") == "mean \u00b1 s.e."
