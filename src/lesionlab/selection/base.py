"""The strategy contract: a strategy declares the evidence it needs and selects from arrays only.

A strategy never touches a model. The evidence collector computes what `Strategy.requires` names once
per round over the unlabelled pool; `select` is then a pure function of those arrays, a budget and a
random generator, which makes every strategy testable on hand-made arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from lesionlab.errors import ConfigError

# Names of the evidence fields a strategy may require.
EVIDENCE_KINDS = ("probs", "mc_probs", "ensemble_probs", "embeddings", "labeled_embeddings", "features")


@dataclass
class Evidence:
    """What the current model says about the unlabelled pool; row i of every array belongs to `ids[i]`.

    probs: (N, C) class probabilities; mc_probs: (T, N, C) from T MC-dropout passes; ensemble_probs:
    (M, N, C) from M models; embeddings: (N, D) pooled features; labeled_embeddings: (L, D) features of the
    labelled set (for diversity strategies); features: named model-independent arrays (e.g. PCA features).
    """

    ids: np.ndarray
    probs: np.ndarray | None = None
    mc_probs: np.ndarray | None = None
    ensemble_probs: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    labeled_embeddings: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids)
        n = len(self.ids)
        for name, axis in (("probs", 0), ("mc_probs", 1), ("ensemble_probs", 1), ("embeddings", 0)):
            arr = getattr(self, name)
            if arr is not None and arr.shape[axis] != n:
                raise ValueError(f"evidence {name} has {arr.shape[axis]} rows for {n} ids")
        for key, arr in self.features.items():
            if np.shape(arr)[:1] != (n,):
                raise ValueError(f"evidence feature {key!r} has shape {np.shape(arr)}, expected {n} rows")

    def require(self, name: str) -> np.ndarray:
        value = getattr(self, name, None)
        # `features` defaults to an empty dict, so "missing" means empty there, not None.
        if value is None or (name == "features" and not value):
            raise ValueError(f"this strategy needs evidence {name!r}, which the collector did not provide")
        return value


@dataclass(frozen=True)
class Selection:
    """Ids chosen for annotation, in order of choice, and the score that ranked each one."""

    ids: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.scores):
            raise ValueError("a selection needs one score per id")


class Strategy:
    """Base class: subclasses set `name` and `requires` and implement `select`."""

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        raise NotImplementedError


def check_budget(budget: int) -> int:
    """Reject budgets that are not whole numbers >= 1 instead of letting slicing silently misbehave."""
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
    return int(budget)


def top_k(evidence: Evidence, scores: np.ndarray, budget: int, rng: np.random.Generator) -> Selection:
    """Pick the `budget` highest scores; ties are broken at random (seeded) rather than by pool order.

    A budget at least the pool size returns the whole pool, ranked.
    """
    budget = min(check_budget(budget), len(evidence.ids))
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(evidence.ids),):
        raise ValueError(f"need one score per pool id: got shape {scores.shape} for {len(evidence.ids)} ids")
    tiebreak = rng.random(len(scores))
    order = np.lexsort((tiebreak, -scores))[:budget]
    return Selection(ids=evidence.ids[order], scores=scores[order])


_REGISTRY: dict[str, Callable[..., Strategy]] = {}


def register_strategy(name: str) -> Callable[[Callable[..., Strategy]], Callable[..., Strategy]]:
    """Class decorator: make a strategy available by `name` in configs and on the command line."""

    def deco(factory: Callable[..., Strategy]) -> Callable[..., Strategy]:
        if name in _REGISTRY:
            raise ValueError(f"strategy {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def available_strategies() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_strategy(name: str, **params: object) -> Strategy:
    """Build a registered strategy; an unknown name lists the valid choices."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name](**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for strategy {name!r}: {exc}") from exc


def _load_builtin() -> None:
    # Importing the modules runs their @register_strategy decorators.
    from lesionlab.selection import representativeness, uncertainty  # noqa: F401
