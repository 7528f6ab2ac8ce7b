"""No module over 400 lines and no function over 60 (issue 32, item 6), checked by scripts/check_sizes.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_sizes.py"

_spec = importlib.util.spec_from_file_location("check_sizes", SCRIPT)
check_sizes = importlib.util.module_from_spec(_spec)
sys.modules["check_sizes"] = check_sizes  # dataclasses look their module up there
_spec.loader.exec_module(check_sizes)


def _function(name: str, lines: int, indent: str = "") -> str:
    body = "".join(f"{indent}    x = {i}\n" for i in range(lines - 1))
    return f"{indent}def {name}():\n{body}"


def test_long_functions_methods_and_nested_functions_are_named(tmp_path: Path) -> None:
    source = (
        _function("short", 60)
        + _function("long", 61)
        + "class Box:\n"
        + _function("method", 62, "    ")
        + "def outer():\n"
        + _function("inner", 61, "    ")
    )
    (tmp_path / "mod.py").write_text(source)
    offenders = check_sizes.check([tmp_path])
    assert {(o.name, o.lines) for o in offenders} == {
        ("Box.method", 62),
        ("outer", 62),  # holds `inner`, so it is long too
        ("outer.inner", 61),
        ("long", 61),
    }
    assert all(o.path.endswith("mod.py") for o in offenders)


def test_a_long_module_fails_the_script_and_migrations_are_exempt(tmp_path: Path) -> None:
    long_module = "".join(f"x{i} = {i}\n" for i in range(401))
    (tmp_path / "ok.py").write_text(long_module[: long_module.index("x400")])  # exactly 400 lines
    migration = tmp_path / "lesionlab" / "project" / "migrations" / "versions" / "0001_first.py"
    migration.parent.mkdir(parents=True)
    migration.write_text(long_module + _function("upgrade", 90))
    assert check_sizes.check([tmp_path]) == []

    (tmp_path / "big.py").write_text(long_module)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "big.py:1: module has 401 lines (limit 400)" in done.stdout
    assert "ok.py" not in done.stdout and "0001_first" not in done.stdout


def test_the_package_and_benchmarks_are_within_the_limits() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(ROOT / "src" / "lesionlab"), str(ROOT / "benchmarks")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
