"""Active-learning pool state: what can be bought, what has been bought, and how to resume after a crash.

An active-learning run is a sequence of rounds that each cost real time (training) and, in practice,
real money (annotation). The state after every finished round is saved atomically, so a run killed
mid-round resumes from the last finished round. The experiment runner needs no saved random state to
draw the same numbers after a resume: it derives each round's generators from (seed, round). `rng_state`
(`record_round` / `rng`) is there for callers that keep one generator across rounds; it is saved only
when such a caller records it, and stays None otherwise.
"""

from __future__ import annotations

import copy
import json
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.errors import DataError
from lesionlab.io import write_json

FORMAT = "lesionlab.pool"
FORMAT_VERSION = 1


@dataclass
class PoolState:
    """The pool, the labels bought so far (in order of purchase) and one history entry per finished round.

    pool_ids: every id that can be bought (the train split), in a fixed order.
    labels: id -> label bought so far; dict order is purchase order.
    held_out: ids never offered (e.g. val / test), kept for the record.
    history: one free-form dict per finished round (the runner decides its keys).
    rng_state: numpy `bit_generator.state` after the last finished round, None before the first.
    """

    pool_ids: list[str]
    labels: dict[str, int] = field(default_factory=dict)
    held_out: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    rng_state: dict | None = None

    def __post_init__(self) -> None:
        self.pool_ids = [str(i) for i in self.pool_ids]
        self.held_out = [str(i) for i in self.held_out]
        pool = set(self.pool_ids)
        if len(pool) != len(self.pool_ids):
            raise ValueError(f"duplicate id {_first_duplicate(self.pool_ids)!r} in the pool")
        leaked = pool.intersection(self.held_out)
        if leaked:
            raise ValueError(f"{len(leaked)} held-out id(s) are also in the pool, e.g. {min(leaked)!r}")
        unknown = [i for i in self.labels if i not in pool]
        if unknown:
            raise ValueError(f"{len(unknown)} labelled id(s) are not in the pool, e.g. {unknown[0]!r}")
        self.labels = {str(i): _as_label(i, v) for i, v in self.labels.items()}

    # --- bookkeeping ------------------------------------------------------------------------------

    def unlabeled_ids(self) -> list[str]:
        """Ids still for sale, in pool order (a stable order keeps strategies reproducible)."""
        return [i for i in self.pool_ids if i not in self.labels]

    def labeled_ids(self) -> list[str]:
        """Ids bought so far, in order of purchase."""
        return list(self.labels)

    def buy(self, ids: Iterable[str], labels: Mapping[str, int]) -> None:
        """Add `ids` to the labelled set with their label from `labels` (which may hold more ids).

        Everything is checked before anything is recorded, so a rejected purchase changes nothing.
        """
        ids = list(ids)
        pool = set(self.pool_ids)
        seen: set[str] = set()
        bought: dict[str, int] = {}
        for i in ids:
            if i not in pool:
                raise ValueError(f"cannot buy {i!r}: it is not in the pool")
            if i in self.labels:
                raise ValueError(f"cannot buy {i!r}: it is already labelled")
            if i in seen:
                raise ValueError(f"cannot buy {i!r} twice in one purchase")
            seen.add(i)
            if i not in labels:
                raise ValueError(f"cannot buy {i!r}: no label given for it")
            bought[i] = _as_label(i, labels[i])
        self.labels.update(bought)

    @property
    def n_rounds(self) -> int:
        """Finished rounds."""
        return len(self.history)

    @property
    def fraction_labeled(self) -> float:
        """Share of the pool labelled so far (0.0 for an empty pool)."""
        return len(self.labels) / len(self.pool_ids) if self.pool_ids else 0.0

    # --- random generator -------------------------------------------------------------------------

    def rng(self) -> np.random.Generator:
        """A generator continuing exactly where the last finished round left off."""
        if self.rng_state is None:
            raise ValueError("no random state recorded yet: seed a new generator for the first round")
        return _restore_rng(self.rng_state)

    def record_round(self, entry: dict, rng: np.random.Generator) -> None:
        """Close a round: append its history entry and remember the generator state; the caller saves."""
        self.history.append(dict(entry))
        self.rng_state = copy.deepcopy(rng.bit_generator.state)

    # --- persistence ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "pool_ids": self.pool_ids,
            "labels": self.labels,
            "held_out": self.held_out,
            "history": self.history,
            "rng_state": self.rng_state,
        }

    def save(self, path: str | Path) -> None:
        """Write the state atomically (temp file + rename): a crash leaves the previous save intact."""
        write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> PoolState:
        """Read a saved state; a missing, truncated or inconsistent file raises DataError naming it."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise DataError(f"pool state file {path} does not exist") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"pool state file {path} is unreadable or corrupt ({exc}); "
                "delete it to restart the run from scratch"
            ) from exc
        try:
            state = cls.from_payload(payload)
            if state.rng_state is not None:
                _restore_rng(state.rng_state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"pool state file {path} is not a valid lesionlab pool state: {exc}; "
                "delete it to restart the run from scratch"
            ) from exc
        return state

    @classmethod
    def from_payload(cls, payload: Any) -> PoolState:
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"expected a JSON object with format {FORMAT!r}")
        if payload.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported version {payload.get('version')!r} (expected {FORMAT_VERSION})")
        lists = {k: payload[k] for k in ("pool_ids", "held_out", "history")}
        for key, value in lists.items():
            if not isinstance(value, list):
                raise ValueError(f"{key} must be a list, got {type(value).__name__}")
        if not all(isinstance(e, dict) for e in lists["history"]):
            raise ValueError("every history entry must be an object")
        labels, rng_state = payload["labels"], payload["rng_state"]
        if not isinstance(labels, dict):
            raise ValueError(f"labels must be an object, got {type(labels).__name__}")
        if rng_state is not None and not isinstance(rng_state, dict):
            raise ValueError(f"rng_state must be an object or null, got {type(rng_state).__name__}")
        return cls(
            pool_ids=lists["pool_ids"],
            labels=labels,
            held_out=lists["held_out"],
            history=lists["history"],
            rng_state=rng_state,
        )


def _as_label(id_: str, value: Any) -> int:
    """A plain int label; numpy integers are accepted, floats and booleans are not (likely a bug)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"label of {id_!r} must be an integer class index, got {value!r}")
    return int(value)


def _restore_rng(state: dict) -> np.random.Generator:
    """Rebuild the generator from a saved `bit_generator.state`, whatever bit generator produced it."""
    name = state.get("bit_generator")
    bit_generator_cls = getattr(np.random, str(name), None)
    if not (isinstance(bit_generator_cls, type) and issubclass(bit_generator_cls, np.random.BitGenerator)):
        raise ValueError(f"unknown bit generator {name!r} in the saved random state")
    bit_generator = bit_generator_cls()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _first_duplicate(values: list[str]) -> str:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return ""
