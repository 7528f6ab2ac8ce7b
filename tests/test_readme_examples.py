"""The README's path for a new user runs as written (issue 34): with `$LESIONLAB_DATA` pointing at a folder
that holds `isic2017/` (here a tiny generated tree) and no development-machine paths, the example config
trains a model, and the README's Python examples run unchanged against it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fake_isic import make_tiny_isic

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```\n", (ROOT / "README.md").read_text(), flags=re.M | re.S)


def _block(containing: str) -> str:
    found = [b for b in PYTHON_BLOCKS if containing in b]
    assert len(found) == 1, f"one README python block with {containing!r}, found {len(found)}"
    return found[0]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_readme_path_trains_on_the_example_config_and_its_python_runs(tmp_path: Path) -> None:
    make_tiny_isic(tmp_path / "data" / "isic2017")
    env = {
        **os.environ,
        "LESIONLAB_DATA": str(tmp_path / "data"),
        "LESIONLAB_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    work = tmp_path / "work"
    work.mkdir()
    # README, "Data": the example config as shipped, its data from $LESIONLAB_DATA; --set for tiny images
    example = ROOT / "examples" / "isic2017_melanoma_train.yaml"
    quick = ["train.epochs=2", "train.resolution=32", "train.views=1", "train.num_threads=1"]
    sets = [arg for s in quick for arg in ("--set", s)]
    out = _run([sys.executable, "-m", "lesionlab.cli", "train", str(example), *sets], work, env)
    assert "test metrics (16 images)" in " ".join(out.split())
    assert (work / "runs" / "isic2017_melanoma" / "model.pt").is_file()

    # README, "From Python": the first block as written (it trains at 224 px on the tiny tree)
    fit = _block("trainer.fit(") + "\nprint('probs', probs.shape)\n"
    assert "probs (16, 2)" in _run([sys.executable, "-c", fit], work, env)
    # ... and the saved run, loaded and evaluated
    saved = _block("load_trained_run(") + "\nprint('probs', probs.shape, sorted(result['metrics']))\n"
    printed = _run([sys.executable, "-c", saved], work, env)
    assert "probs (16, 2)" in printed and "'auc'" in printed
