"""docs/tutorial.md runs as written (issue 34, item 5): every code block, in order, in an empty folder,
on the images shipped inside the package. A block that no longer runs, or a file the text promises that
is not written, fails here."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", flags=re.M | re.S)
SAVE_AS = re.compile(r"`([^`]+\.ya?ml)`:\s*$")


def blocks(text: str) -> list[tuple[str, str, str | None]]:
    """(language, code, file name for a block introduced by "Save this as `name.yaml`:") in page order."""
    out = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").splitlines()
        saved = SAVE_AS.search(before[-1]) if before else None
        out.append((match.group(1), match.group(2), saved.group(1) if saved else None))
    return out


def test_the_tutorial_s_blocks_are_understood() -> None:
    found = blocks(TUTORIAL.read_text())
    kinds = [(lang, name) for lang, _, name in found]
    assert ("yaml", "train.yaml") in kinds and ("yaml", "compare.yaml") in kinds
    assert all(name is not None for lang, _, name in found if lang == "yaml"), "a YAML block without a file"
    assert {lang for lang, _, _ in found} == {"python", "bash", "yaml"}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{shlex.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_every_block_of_the_tutorial_runs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LESIONLAB_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    printed = []
    for lang, code, name in blocks(TUTORIAL.read_text()):
        if lang == "yaml":
            (tmp_path / name).write_text(code)
        elif lang == "python":
            printed.append(_run([sys.executable, "-c", code], tmp_path, env))
        else:
            for line in code.splitlines():
                command = line.split("#")[0].strip()
                if command:
                    args = shlex.split(command)
                    assert args[0] == "lesionlab", line
                    printed.append(_run([sys.executable, "-m", "lesionlab.cli", *args[1:]], tmp_path, env))
    output = "\n".join(printed)
    assert "420 images in my_images/" in output
    assert "files: all 420 images readable" in output
    # what the text says each step writes
    for written in (
        "runs/tutorial_model/metrics.json",
        "runs/tutorial_compare/report.html",
        "runs/tutorial_model/audit/audit.csv",
        "runs/tutorial_model/audit/audit.html",
    ):
        assert (tmp_path / written).is_file(), written
    assert "known flips: precision at" in output
