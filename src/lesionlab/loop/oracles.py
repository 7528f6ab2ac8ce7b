"""Oracles: who answers "what is the label of these images?", and the label stores behind them.

The runner asks an oracle for the labels of the ids a strategy chose and never reads hidden labels
itself. Every oracle implements one protocol, `Oracle.query(ids) -> {id: label}`, answering the ids it
can answer now: the simulated oracle reveals the data set's label; the noisy one answers wrongly at a
set rate (label noise in the loop); `StoreOracle` answers from a `LabelStore`, where a person's labels
arrive (the annotation project's database implements the same store protocol). The store protocol
follows MONAI Label's datastore: list the images, the labelled and unlabelled ones, get and save labels.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from lesionlab.data.records import Record
from lesionlab.errors import DataError


@runtime_checkable
class Oracle(Protocol):
    def query(self, ids: Sequence[str]) -> dict[str, int]:
        """Labels of those `ids` that have an answer now (a person's store may not have all yet)."""
        ...


class SimulatedOracle:
    """Reveals the label the data set holds for each id: the simulated expert of every AL benchmark."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._labels = {r.id: r.label for r in records}

    def query(self, ids: Sequence[str]) -> dict[str, int]:
        missing = [i for i in ids if self._labels.get(i) is None]
        if missing:
            raise DataError(f"the simulated oracle has no label for {len(missing)} id(s), e.g. {missing[:3]}")
        return {i: int(self._labels[i]) for i in ids}


class NoisyOracle(SimulatedOracle):
    """A simulated expert who is wrong with probability `rate`, answering a uniformly drawn other class.

    Whether an image is answered wrongly, and with which class, depends only on (seed, image id), so
    the same image gets the same answer whenever it is asked (across rounds and resumed runs) and every
    strategy of a seed meets the same expert. `flipped(ids)` tells which answers were wrong, for
    evaluating label audits.
    """

    def __init__(self, records: Iterable[Record], num_classes: int, rate: float, seed: int = 0) -> None:
        super().__init__(records)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"noise rate must be in [0, 1), got {rate}")
        if num_classes < 2:
            raise ValueError("a noisy oracle needs at least two classes")
        self.num_classes, self.rate, self.seed = num_classes, rate, seed

    def _answer(self, image_id: str, truth: int) -> int:
        rng = np.random.default_rng([self.seed, zlib.crc32(image_id.encode())])
        wrong, offset = rng.random() < self.rate, int(rng.integers(1, self.num_classes))
        return (truth + offset) % self.num_classes if wrong else truth

    def query(self, ids: Sequence[str]) -> dict[str, int]:
        return {i: self._answer(i, truth) for i, truth in super().query(ids).items()}

    def flipped(self, ids: Sequence[str]) -> list[str]:
        truth = super().query(ids)
        return [i for i in ids if self._answer(i, truth[i]) != truth[i]]


@runtime_checkable
class LabelStore(Protocol):
    """Where labels live between a request and an answer (MONAI Label's datastore, reduced to labels)."""

    def image_ids(self) -> list[str]: ...

    def labeled_ids(self) -> list[str]: ...

    def unlabeled_ids(self) -> list[str]: ...

    def get_label(self, image_id: str) -> int | None: ...

    def save_label(self, image_id: str, label: int, annotator: str = "") -> None: ...


class MemoryLabelStore:
    """A label store in memory: for tests, scripts, and as the reference behaviour of the protocol."""

    def __init__(self, image_ids: Iterable[str], labels: Mapping[str, int] | None = None) -> None:
        self._ids = list(dict.fromkeys(str(i) for i in image_ids))
        self._known = set(self._ids)
        self._labels: dict[str, int] = {}
        self._annotators: dict[str, str] = {}
        for image_id, label in (labels or {}).items():
            self.save_label(image_id, label)

    def image_ids(self) -> list[str]:
        return list(self._ids)

    def labeled_ids(self) -> list[str]:
        return [i for i in self._ids if i in self._labels]

    def unlabeled_ids(self) -> list[str]:
        return [i for i in self._ids if i not in self._labels]

    def get_label(self, image_id: str) -> int | None:
        return self._labels.get(image_id)

    def save_label(self, image_id: str, label: int, annotator: str = "") -> None:
        if image_id not in self._known:
            raise DataError(f"cannot label {image_id!r}: it is not an image of this store")
        self._labels[image_id] = int(label)
        self._annotators[image_id] = annotator


class StoreOracle:
    """Answers from a label store: the ids labelled there so far; the rest are `pending` for a person."""

    def __init__(self, store: LabelStore) -> None:
        self.store = store

    def query(self, ids: Sequence[str]) -> dict[str, int]:
        answers = {i: self.store.get_label(i) for i in ids}
        return {i: int(label) for i, label in answers.items() if label is not None}

    def pending(self, ids: Sequence[str]) -> list[str]:
        return [i for i in ids if self.store.get_label(i) is None]
