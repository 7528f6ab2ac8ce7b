"""Comparing two runs' results: what may differ by design is left out, everything else must match."""

from __future__ import annotations

import math
from typing import Any

# Differ by design: timings (keys ending in _seconds), where a run wrote and cached, and which unit of a
# seed trained the shared first round.
BY_DESIGN = ("output", "cache_dir", "shared_first_round")


def comparable(value: Any) -> Any:
    """`value` without the entries that differ between equal runs by design."""
    if isinstance(value, dict):
        kept = {k: v for k, v in value.items() if not k.endswith("_seconds") and k not in BY_DESIGN}
        return {k: comparable(v) for k, v in kept.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def assert_same(a: Any, b: Any, where: str = "", tol: float = 0.0) -> None:
    """Equal structure and values (floats within `tol`, NaN equals NaN); `where` names the difference."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", tol)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]", tol)
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol, f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
