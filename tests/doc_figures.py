"""The table behind tests/test_doc_figures*.py: figures the docs quote, read from their results files
(issue 35).

A number typed into a doc drifts from the measurement it reports (the audit's "99 -> 53" wrong labels were
98.0 -> 52.7 in the file), so each quoted figure is a row of `QUOTES`: the doc, the quoted words around the
figure, the results file, the key path(s) in it and the format the doc prints it with. The test checks that
the words still occur in the doc and that the file's value, printed with that format, occurs in the words;
or, where the words are a template with format fields ("AUC {:.3f} ± {:.3f}"), that the template filled
with the file's values occurs in the doc. The format is the declared rounding tolerance: "{:.3f}" accepts
any value within half a unit of the third decimal. A row whose file is `name.json@commit` reads the file
as committed then (figures kept from an earlier run, with their source named in the doc); it is skipped
where git history is not available.

To add a figure: find its key path (`python -c "import json; ..."` on the results file), then add a row to
the `QUOTES` of the test file for that doc.
"""

from __future__ import annotations

import functools
import json
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

Key = str | tuple[str, ...] | Callable[[dict], Any]


@dataclass(frozen=True)
class Quote:
    doc: str  # path from the repository root
    text: str  # the doc's words around the figure(s); with {} fields: a template the values fill
    json: str  # results file under benchmarks/results/ ("name.json@commit": as committed then)
    key: Key  # "a/b/0/c" (list index as a number), several paths, or a function of the loaded file
    fmt: str = "{:.3f}"  # (text without fields) how the doc prints the value(s): the declared rounding


def ms(path: str) -> tuple[str, str]:
    """A `mean ± se` pair."""
    return (f"{path}/mean", f"{path}/se")


@functools.cache
def load(name: str) -> dict:
    if "@" not in name:
        return json.loads((RESULTS / name).read_text())
    file, commit = name.split("@")
    try:
        text = subprocess.run(
            ["git", "show", f"{commit}:benchmarks/results/{file}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"{file} at {commit}: git history not available")
    return json.loads(text)


def get(data: Any, path: str) -> Any:
    for part in path.split("/"):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _values(quote: Quote) -> tuple:
    data = load(quote.json)
    if callable(quote.key):
        out = quote.key(data)
        return out if isinstance(out, tuple) else (out,)
    keys = quote.key if isinstance(quote.key, tuple) else (quote.key,)
    return tuple(get(data, k) for k in keys)


@functools.cache
def _doc(name: str) -> str:
    return " ".join((ROOT / name).read_text().split())


def values_at(data: dict, paths: tuple[str, ...]) -> tuple:
    return tuple(get(data, p) for p in paths)


def per_seed(path: str, sub: str) -> Callable[[dict], tuple]:
    """`sub` of every seed's record in the list at `path`."""
    return lambda d: tuple(get(s, sub) for s in get(d, path))


def spread(values: tuple) -> tuple:
    """min, max and mean of per-seed values."""
    return min(values), max(values), statistics.mean(values)


def check(quote: Quote) -> None:
    """The quoted words, filled with (or containing) the file's values, are in the doc."""
    values = _values(quote)
    text = " ".join(quote.text.split())
    if "{" in text:  # a template: the doc prints the values where its fields are
        printed = text.format(*values)
        assert printed in _doc(quote.doc), f"{quote.doc} does not say {printed!r} ({quote.json}: {quote.key})"
        return
    assert text in _doc(quote.doc), f"{quote.doc} no longer says: {text!r} (update the row or the doc)"
    printed = quote.fmt.format(*values)
    assert printed in text, f"{quote.json}: {quote.key} prints as {printed!r}, the doc says {text!r}"


def ids(quotes: list[Quote]) -> list[str]:
    return [f"{q.doc}:{q.text[:50]}" for q in quotes]
