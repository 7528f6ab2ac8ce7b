"""Every benchmark results file records the commit that produced it, whether the tree was dirty, the
versions, the machine and the command (issue 32, item 6); and every benchmark script's `--help` works.

The writer is run on a tiny payload in a temporary git repository (clean, then with uncommitted changes)
and in this repository; the scripts are run in this process with `--help`, as `python benchmarks/X.py
--help` would run them, without paying for a fresh interpreter and torch import per script.
"""

from __future__ import annotations

import importlib
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import provenance  # noqa: E402
from provenance import git_state, write_outputs  # noqa: E402

SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
PAYLOAD = {"results": {"accuracy": 0.5}, "config": {"epochs": 1}, "seeds": [0, 1]}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository shaped like this one: src/, benchmarks/results/, docs/, one commit."""
    root = tmp_path / "repo"
    for relative in ("src/pkg.py", "benchmarks/bench.py", "benchmarks/results/old.json", "docs/a.md"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return root


def _written(repo: Path, out: Path) -> dict:
    write_outputs(out / "bench.json", PAYLOAD, ["# bench", "", "| a |"], repo=repo)
    assert (out / "bench.md").read_text() == "# bench\n\n| a |\n"
    return json.loads((out / "bench.json").read_text())


def test_a_clean_tree_records_commit_versions_machine_config_and_seeds(repo: Path, tmp_path: Path) -> None:
    record = _written(repo, tmp_path)
    head = _git(repo, "rev-parse", "HEAD")
    p = record["provenance"]
    assert p["commit"] == head and head.startswith(p["commit_short"]) and len(p["commit_short"]) >= 7
    assert p["dirty"] is False and p["changed"] == [] and "commit_at_write" not in p
    assert record["results"] == PAYLOAD["results"]
    assert record["config"] == {"epochs": 1} and record["seeds"] == [0, 1]
    assert record["versions"]["lesionlab"] and record["versions"]["torch"]
    assert record["machine"]["cpu_count"] >= 1 and record["machine"]["cpu_model"]
    assert p["command"] and p["wall_seconds"] >= 0 and p["started_utc"] <= p["written_utc"]


def test_uncommitted_code_under_src_or_benchmarks_is_flagged_but_results_and_docs_are_not(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "benchmarks/results/old.json").write_text("{}\n")  # the benchmarks' own outputs
    (repo / "benchmarks/results/new.json").write_text("{}\n")
    (repo / "docs/a.md").write_text("changed\n")
    assert _written(repo, tmp_path)["provenance"]["dirty"] is False

    (repo / "src/pkg.py").write_text("x = 2\n")
    (repo / "benchmarks/helper.py").write_text("y = 1\n")  # untracked code counts too
    p = _written(repo, tmp_path)["provenance"]
    assert p["dirty"] is True and p["n_changed"] == 2
    assert p["changed"] == ["benchmarks/helper.py", "src/pkg.py"]


def test_a_tree_dirty_at_the_start_stays_flagged_and_a_moved_commit_is_recorded(repo: Path) -> None:
    (repo / "src/pkg.py").write_text("x = 2\n")
    start = git_state(repo)
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "two")
    record = provenance.provenance(repo, at_start=start)
    assert record["dirty"] is True  # the code that ran was not the committed code
    assert record["commit"] == start["commit"] != record["commit_at_write"]
    assert record["commit_at_write"] == _git(repo, "rev-parse", "HEAD")


def test_outside_a_git_checkout_the_state_is_unknown_not_clean(tmp_path: Path) -> None:
    record = provenance.provenance(tmp_path)
    assert record["commit"] is None and record["dirty"] is None


def test_this_repository_records_its_head(tmp_path: Path) -> None:
    write_outputs(tmp_path / "here.json", PAYLOAD, [])
    p = json.loads((tmp_path / "here.json").read_text())["provenance"]
    # HEAD when this process started, or when the file was written if someone committed in between
    assert p.get("commit_at_write", p["commit"]) == _git(provenance.REPO, "rev-parse", "HEAD")
    assert isinstance(p["dirty"], bool)


def test_a_payload_without_config_or_seeds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bench\.json: the payload has no seeds"):
        write_outputs(tmp_path / "bench.json", {"config": {}}, [])
    assert not (tmp_path / "bench.json").exists()


def test_every_results_file_goes_through_the_one_writer() -> None:
    """No script writes a results/<name>.json itself: write_outputs is the only summary writer."""
    for name in SCRIPTS:
        text = (BENCHMARKS / name).read_text()
        # the one writer is provenance's (imported alone or beside other provenance names, as ruff sorts them)
        imported = re.search(r"^from provenance import [^\n]*\bwrite_outputs\b", text, re.M)
        assert imported or "write_outputs" not in text, name
        assert "write_json(RESULTS /" not in text, f"{name} writes a results file without provenance"
    assert "write_outputs" not in (BENCHMARKS / "common.py").read_text()


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_script_imports_and_answers_help(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / script), "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {script}")
    if "base_parser(" in (BENCHMARKS / script).read_text():  # the options every benchmark shares
        assert "--seeds" in out and "--data" in out and "--cache-dir" in out


MODULES = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.name not in SCRIPTS)


@pytest.mark.parametrize("module", MODULES)
def test_each_shared_benchmark_module_imports(module: str) -> None:
    """Modules the scripts import, some only inside `main` (the summaries), so `--help` alone misses them."""
    assert importlib.import_module(module).__doc__


def test_the_scripts_are_found() -> None:
    assert {"full_data.py", "paper001.py", "regime.py", "scale.py"} <= set(SCRIPTS)
    assert "common.py" not in SCRIPTS and "provenance.py" not in SCRIPTS
    assert {"common", "provenance", "paper001_summary", "paper004_summary"} <= set(MODULES)
