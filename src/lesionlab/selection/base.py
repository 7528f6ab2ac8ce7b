"""The strategy contract: a strategy declares the evidence it needs and selects from arrays only.

A strategy never touches a model. The evidence collector computes what `Strategy.requires` names once
per round over the unlabelled pool; `select` is then a pure function of those arrays, a budget and a
random generator, which makes every strategy testable on hand-made arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lesionlab.errors import ConfigError
from lesionlab.registry import EVIDENCE_GROUP, STRATEGIES_GROUP, Registry
from lesionlab.selection.options import options_model, options_of


@dataclass(frozen=True)
class EvidenceKind:
    """A kind of evidence: its name, which axis of its array runs over the pool ids (None: not indexed
    by the pool, e.g. the labelled set's embeddings), whether it is a dict of arrays, and whether it
    needs a trained model (a model-free kind can drive the initial selection)."""

    name: str
    row_axis: int | None = 0
    mapping: bool = False
    needs_model: bool = True
    description: str = ""
    # For kinds a model must learn to provide (the loss predictor's predicted loss): builds the auxiliary
    # head (`lesionlab.training.auxiliary.AuxiliaryHead`) from the model; the runner trains it jointly.
    head: Callable[[Any], Any] | None = None
    # The task outputs (`Task.output`) this kind can be computed for; empty = every task. Lets a run refuse
    # e.g. class-probability entropy on a segmentation task before any training.
    outputs: tuple[str, ...] = ()
    # fn(EvidenceRequest) -> the array (see `selection.evidence.register_evidence`).
    provider: Callable[[Any], Any] | None = None


def _as_kind(name: str, obj: Any) -> EvidenceKind:
    """An `EvidenceKind` as registered, or a bare provider (a plugin's entry point) wrapped as one."""
    if isinstance(obj, EvidenceKind):
        if obj.name != name:
            raise ValueError(f"evidence kind {obj.name!r} registered under another name, {name!r}")
        return obj
    if callable(obj):
        return EvidenceKind(name, description=obj.__doc__ or "", provider=obj)
    raise TypeError(f"evidence kind {name!r}: expected an EvidenceKind or a provider function, got {obj!r}")


# Every evidence kind by name: the built-in providers (any module of `lesionlab.selection`) and the
# plugins of the `lesionlab.evidence` entry-point group, loaded the first time the registry is asked.
EVIDENCE: Registry[EvidenceKind] = Registry(
    "evidence kind", group=EVIDENCE_GROUP, builtins=("lesionlab.selection",), prepare=_as_kind
)


def register_evidence_kind(kind: EvidenceKind) -> None:
    EVIDENCE.register(kind.name, kind)


def evidence_kinds() -> dict[str, EvidenceKind]:
    """Every registered kind by name, wherever it is defined (built-in modules and plugins)."""
    return dict(EVIDENCE.items())


class Evidence:
    """What the current model (or the pool itself) says about the unlabelled pool: `ids` and named arrays.

    Row i of every pool-indexed array belongs to `ids[i]` (along the kind's `row_axis`: mc_probs is
    (T, N, C), ensemble_probs (M, N, C)). Arrays are read as attributes (`evidence.probs`, None when
    absent) or with `require(name)`, which fails with a clear message. Built-in kinds: probs (N, C),
    mc_probs (T, N, C), ensemble_probs (M, N, C), embeddings (N, D), labeled_embeddings (L, D), features
    (a dict of model-free arrays with N rows); a new kind is one provider in `selection.evidence`.
    """

    def __init__(self, ids: np.ndarray, **arrays: Any) -> None:
        self.ids = np.asarray(ids)
        kinds = evidence_kinds()
        unknown = sorted(set(arrays) - set(kinds))
        if unknown:
            raise ValueError(f"unknown evidence kind(s) {unknown}; registered: {', '.join(sorted(kinds))}")
        # None or an empty dict means "not provided".
        self.arrays: dict[str, Any] = {
            k: (dict(v) if kinds[k].mapping else v)
            for k, v in arrays.items()
            if v is not None and not (kinds[k].mapping and not v)
        }
        n = len(self.ids)
        for name, value in self.arrays.items():
            kind = kinds[name]
            if kind.mapping:
                for key, arr in value.items():
                    if np.shape(arr)[:1] != (n,):
                        raise ValueError(
                            f"evidence {name} {key!r} has shape {np.shape(arr)}, expected {n} rows"
                        )
            elif kind.row_axis is not None and np.shape(value)[kind.row_axis] != n:
                raise ValueError(f"evidence {name} has {np.shape(value)[kind.row_axis]} rows for {n} ids")

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not ordinary attributes: the evidence kinds.
        if name.startswith("_") or name == "arrays":
            raise AttributeError(name)
        if name in self.arrays:
            return self.arrays[name]
        kinds = evidence_kinds()
        if name in kinds:
            return {} if kinds[name].mapping else None
        raise AttributeError(f"evidence has no kind {name!r}")

    def require(self, name: str) -> Any:
        if name not in self.arrays:
            raise ValueError(f"this strategy needs evidence {name!r}, which the collector did not provide")
        return self.arrays[name]

    def replace(self, ids: np.ndarray | None = None, **arrays: Any) -> Evidence:
        """A new Evidence with some arrays replaced (None removes one); shapes are checked again."""
        return Evidence(self.ids if ids is None else ids, **{**self.arrays, **arrays})

    def only(self, kinds: Iterable[str]) -> Evidence:
        """The same evidence keeping just `kinds` (what a collector serving those kinds would hand over)."""
        keep = set(kinds)
        return Evidence(self.ids, **{k: v for k, v in self.arrays.items() if k in keep})


@dataclass(frozen=True)
class Selection:
    """Ids chosen for annotation, in order of choice, and the score that ranked each one. `pseudo_ids`
    are unlabelled images the strategy trusts the model on (CEAL): the next round also trains on them with
    the model's own predictions as labels, without buying them."""

    ids: np.ndarray
    scores: np.ndarray
    pseudo_ids: tuple = ()

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.scores):
            raise ValueError("a selection needs one score per id")


class Strategy:
    """Base class: subclasses set `requires` and implement `select`; `name` is set by `register_strategy`.

    Options (`experiment.strategy_params.<name>`) are the `__init__` parameters, checked against the model
    `options_model()` derives from their type hints and defaults (or a class's own `Options` model) before
    any training: a typo or a wrong type is one ConfigError naming the strategy and its valid options.

    `evidence_options` passes settings of the strategy's own to the evidence providers (e.g. how many
    PCA components the model-free features need), so the runner never reads a strategy's internals.
    `documented_params` lists the parameter sets the docs give; the shared test template runs each.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    documented_params: ClassVar[tuple[dict[str, Any], ...]] = ()
    # The strategy's options model (`experiment.strategy_params.<name>`); None: derived from `__init__`.
    Options: ClassVar[type | None] = None

    @classmethod
    def options_model(cls) -> type:
        """The pydantic model of this strategy's options (its own `Options`, else its `__init__`'s)."""
        return cls.Options or options_model(cls)

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        raise NotImplementedError

    def evidence_options(self) -> dict[str, dict[str, Any]]:
        """{evidence kind: options for its provider}; none by default."""
        return {}


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


def _named(name: str, cls: type[Strategy]) -> type[Strategy]:
    """The registration is a strategy's only name: set on the class, refused if the class says another."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"strategy {name!r}: expected a Strategy subclass, got {cls!r}")
    if "name" in vars(cls) and cls.name and cls.name != name:
        raise ValueError(f"strategy class {cls.__name__} says name {cls.name!r} but registers {name!r}")
    cls.name = name
    return cls


# Every strategy by name: the built-ins (any module of `lesionlab.selection`, imported on first use, so a
# new module needs no edit here) and the plugins of the `lesionlab.strategies` entry-point group.
STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy", group=STRATEGIES_GROUP, builtins=("lesionlab.selection",), prepare=_named
)


def register_strategy(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: make a strategy available by `name` in configs and on the command line."""
    return STRATEGIES.register(name)


def available_strategies() -> list[str]:
    return STRATEGIES.names()


def strategy_options(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`params` checked against strategy `name`'s options model, with every default filled in: what the
    strategy runs with (a typo, a wrong type or true/false for a number is one ConfigError)."""
    return options_of(STRATEGIES.get(name), params or {}, f"strategy {name!r}")


def get_strategy(name: str, **params: object) -> Strategy:
    """Build a registered strategy; an unknown name or option is a ConfigError listing the valid ones."""
    cls = STRATEGIES.get(name)
    given = {k: v for k, v in strategy_options(name, params).items() if k in params}
    try:
        return cls(**given)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for strategy {name!r}: {exc}") from exc
