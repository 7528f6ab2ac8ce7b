"""lesionlab's own warnings on the command line are one `warning: ...` line, as docs/checks.md promises for a
cache on a full disk (issue 31, item 7, another instance). Before, Python's format printed
`/…/lesionlab/data/cache.py:146: RuntimeWarning: …` and then a line of lesionlab's source."""

from __future__ import annotations

import sys
import warnings

import pytest

import lesionlab.cli as cli
from lesionlab.data import cache


def test_a_warning_from_lesionlab_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passed_on: list[str] = []  # what the previous handler (Python's format) was given
    monkeypatch.setattr(warnings, "showwarning", lambda *args, **kwargs: passed_on.append(args[2]))

    def app(**kwargs: object) -> None:  # main() passes typer's standalone_mode and prog_name
        warnings.warn_explicit(
            "cache folder /c cannot be written (full)", RuntimeWarning, cache.__file__, 146
        )
        warnings.warn_explicit("a library's own", UserWarning, "/elsewhere/lib.py", 7)

    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(sys, "argv", ["lesionlab", "train", "x.yaml"])
    cli.main()
    err = capsys.readouterr().err
    assert "warning: cache folder /c cannot be written (full)\n" in err
    assert "cache.py" not in err and "RuntimeWarning" not in err
    assert passed_on == ["/elsewhere/lib.py"]  # other libraries' warnings keep Python's format
