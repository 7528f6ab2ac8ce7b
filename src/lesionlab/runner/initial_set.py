"""The labels a (strategy, seed) run starts from (`experiment.initial`): none (`empty`), a random draw,
or the picks of a model-free initial strategy (e.g. `ssl_kmeans`). The same for every strategy of a seed,
so comparisons between strategies are paired."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lesionlab.data.records import Record
from lesionlab.selection.base import Strategy
from lesionlab.selection.evidence import EvidenceSettings, collect_evidence


def initial_ids(
    kind: str,
    hidden_pool: Sequence[Record],
    n: int,
    strategy: Strategy | None,
    settings: EvidenceSettings,
    seed: int,
) -> list[str]:
    """The `n` ids of `hidden_pool` (the pool without labels or masks) that seed `seed` starts from;
    random draws come from a generator of (seed, 0) alone."""
    if kind == "empty":
        return []
    if kind == "random":
        rng = np.random.default_rng([seed, 0])
        picked = rng.choice(len(hidden_pool), size=n, replace=False)
        return [hidden_pool[i].id for i in sorted(picked)]
    if strategy is None:
        raise ValueError(f"initial kind {kind!r} needs an initial strategy")
    pool = list(hidden_pool)
    evidence = collect_evidence(strategy, None, pool, pool=pool, settings=settings)
    return list(strategy.select(evidence, n, np.random.default_rng([seed, 0])).ids)
