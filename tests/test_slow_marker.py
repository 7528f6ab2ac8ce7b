"""The `slow` marker splits the edit loop from the full run, and only that (issue 32, item 7).

`python -m pytest -q -m "not slow"` is the quick loop; the README's command and CI must still run every
test, so nothing in the configuration may deselect `slow` tests by default, and a misspelt marker must be
an error rather than a slow test silently left in the quick run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FULL_RUN = 'pip install -e ".[dev]" && python -m pytest -q\n'


def test_slow_is_registered_and_strict_and_nothing_deselects_it(pytestconfig: pytest.Config) -> None:
    assert any(m.startswith("slow:") for m in pytestconfig.getini("markers"))
    addopts = " ".join(pytestconfig.getini("addopts"))
    assert "--strict-markers" in addopts
    assert not re.search(r"(^|\s)(-m|-k)(\s|=|$)", addopts), addopts


def test_the_readme_and_ci_run_every_test() -> None:
    readme = (ROOT / "README.md").read_text()
    assert FULL_RUN in readme and FULL_RUN in (ROOT / ".ci" / "run").read_text()
    assert 'python -m pytest -q -m "not slow"' in readme  # the quick loop is documented beside it
