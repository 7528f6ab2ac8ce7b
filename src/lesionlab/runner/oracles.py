"""Oracles: who answers "what is the label of these images?", and the label stores behind them.

The runner asks an oracle for the labels of the ids a strategy chose and never reads hidden labels
itself. Every oracle implements one protocol, `Oracle.query(ids) -> {id: label}`, answering the ids it
can answer now: the simulated oracle reveals the data set's label; the noisy one answers wrongly at a
set rate (label noise in the loop); `StoreOracle` answers from a `LabelStore`, where a person's labels
arrive (the annotation project's database implements the same store protocol). The store protocol
follows MONAI Label's datastore: list the images, the labelled and unlabelled ones, get and save labels.
The simulated oracles a config names are registered (`ORACLES`), each with its options model.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import Field

from lesionlab.config import Finite, Options
from lesionlab.config_options import validate_options
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError, DataError
from lesionlab.registry import Registry


@runtime_checkable
class Oracle(Protocol):
    def query(self, ids: Sequence[str]) -> dict[str, int]:
        """Labels of those `ids` that have an answer now (a person's store may not have all yet)."""
        ...


class SimulatedOracle:
    """Reveals the label the data set holds for each id: the simulated expert of every AL benchmark."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._labels = {r.id: r.label for r in records}

    def truth(self, ids: Sequence[str]) -> dict[str, int]:
        """The data set's labels: what a simulation scores bought labels against, never what it trains on."""
        missing = [i for i in ids if self._labels.get(i) is None]
        if missing:
            raise DataError(f"the simulated oracle has no label for {len(missing)} id(s), e.g. {missing[:3]}")
        return {i: int(self._labels[i]) for i in ids}

    def query(self, ids: Sequence[str]) -> dict[str, int]:
        return self.truth(ids)

    def requery(self, ids: Sequence[str], attempt: int = 1) -> dict[str, int]:
        """A second look at labelled images (a re-label costs one more label); this expert never errs."""
        return self.truth(ids)


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

    def _answer(self, image_id: str, truth: int, attempt: int = 0) -> int:
        # Attempt 0 keeps the seed sequence of the first answers as they always were.
        key = [self.seed, zlib.crc32(image_id.encode())] + ([attempt] if attempt else [])
        rng = np.random.default_rng(key)
        wrong, offset = rng.random() < self.rate, int(rng.integers(1, self.num_classes))
        return (truth + offset) % self.num_classes if wrong else truth

    def query(self, ids: Sequence[str]) -> dict[str, int]:
        return {i: self._answer(i, truth) for i, truth in self.truth(ids).items()}

    def requery(self, ids: Sequence[str], attempt: int = 1) -> dict[str, int]:
        """The `attempt`-th second look (>= 1): wrong at the same rate, independently of the first answer."""
        if attempt < 1:
            raise ValueError("a re-query is attempt 1 or later (attempt 0 is the first answer)")
        return {i: self._answer(i, truth, attempt) for i, truth in self.truth(ids).items()}

    def flipped(self, ids: Sequence[str]) -> list[str]:
        truth = self.truth(ids)
        return [i for i in ids if self._answer(i, truth[i]) != truth[i]]


class RankedNoisyOracle(NoisyOracle):
    """A simulated expert who errs on the hardest images: in each true class, the `rate` share with the
    highest `difficulty` (e.g. a model's loss on the true label, Xue et al. 2019's model-ranked noise) is
    always answered wrongly, with `wrong_label[id]` when given (the mistake a reader would make) or else a
    class drawn from (seed, id). Ids without a difficulty count as easiest. A re-query is a second reader who
    errs uniformly at `rate` (`NoisyOracle.requery`), independent of the first answer.
    """

    def __init__(
        self,
        records: Iterable[Record],
        num_classes: int,
        rate: float,
        difficulty: Mapping[str, float],
        wrong_label: Mapping[str, int] | None = None,
        seed: int = 0,
    ) -> None:
        records = list(records)
        super().__init__(records, num_classes, rate, seed)
        self._wrong_label = dict(wrong_label or {})
        self._hard: set[str] = set()
        by_class: dict[int, list[str]] = {}
        for r in records:
            if r.label is not None:
                by_class.setdefault(int(r.label), []).append(r.id)
        for members in by_class.values():
            # Hardest first; ties and missing difficulties in record order.
            ranked = sorted(members, key=lambda i: -float(difficulty.get(i, -np.inf)))
            self._hard.update(ranked[: int(np.floor(rate * len(members) + 0.5))])

    def _answer(self, image_id: str, truth: int, attempt: int = 0) -> int:
        if attempt:
            return super()._answer(image_id, truth, attempt)
        if image_id not in self._hard:
            return truth
        wrong = self._wrong_label.get(image_id)
        if wrong is not None and wrong != truth:
            return int(wrong)
        rng = np.random.default_rng([self.seed, zlib.crc32(image_id.encode())])
        return (truth + int(rng.integers(1, self.num_classes))) % self.num_classes


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


def read_difficulty(path: Path, classes: Sequence[str]) -> tuple[dict[str, float], dict[str, int]]:
    """`RankedNoisyOracle`'s inputs from a CSV `image_id,difficulty[,wrong_label]` (a class name)."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment.oracle_difficulty: {path} does not exist")
    difficulty: dict[str, float] = {}
    wrong: dict[str, int] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"image_id", "difficulty"} <= set(reader.fieldnames or []):
            raise ConfigError(f"{path} needs the columns image_id,difficulty (and optionally wrong_label)")
        for line, row in enumerate(reader, start=2):
            try:
                difficulty[row["image_id"]] = float(row["difficulty"])
            except ValueError:
                raise ConfigError(
                    f"{path}, line {line}: difficulty {row['difficulty']!r} is not a number"
                ) from None
            name = (row.get("wrong_label") or "").strip()
            if name:
                if name not in classes:
                    raise ConfigError(
                        f"{path}, line {line}: wrong_label {name!r} is not one of {list(classes)}"
                    )
                wrong[row["image_id"]] = list(classes).index(name)
    return difficulty, wrong


class NoisyOptions(Options):
    """`noisy`: the chance a label is answered wrongly (`experiment.oracle_noise`)."""

    noise: Finite = Field(0.0, ge=0, lt=1)


class RankedNoisyOptions(NoisyOptions):
    """`noisy_ranked`: the share of each class answered wrongly and the CSV ranking how hard each image is
    (`experiment.oracle_difficulty`: image_id,difficulty[,wrong_label])."""

    difficulty: Path | None = None


@dataclass(frozen=True)
class RegisteredOracle:
    """An oracle as registered: its options model and `build(pool, classes, options, seed) -> Oracle`."""

    options: type[Options]
    build: Callable[[Sequence[Record], Sequence[str], Any, int], Oracle]


# The simulated oracles `experiment.oracle` names; the options each reads come from the config's fields.
ORACLES: Registry[RegisteredOracle] = Registry("oracle", builtins=("lesionlab.runner.oracles",))


def register_oracle(name: str, options: type[Options] = Options) -> Callable[[Any], Any]:
    """Register `build(pool, classes, options, seed) -> Oracle` under `name`, with its options model."""

    def deco(build: Any) -> Any:
        ORACLES.register(name, RegisteredOracle(options, build))
        return build

    return deco


@register_oracle("simulated")
def _simulated(pool: Sequence[Record], classes: Sequence[str], options: Options, seed: int) -> Oracle:
    return SimulatedOracle(pool)


@register_oracle("noisy", NoisyOptions)
def _noisy(pool: Sequence[Record], classes: Sequence[str], options: NoisyOptions, seed: int) -> Oracle:
    return NoisyOracle(pool, len(classes), options.noise, seed=seed)


@register_oracle("noisy_ranked", RankedNoisyOptions)
def _ranked(pool: Sequence[Record], classes: Sequence[str], options: RankedNoisyOptions, seed: int) -> Oracle:
    if options.difficulty is None:
        raise ConfigError("experiment.oracle noisy_ranked needs oracle_difficulty (a CSV file)")
    hard, wrong = read_difficulty(options.difficulty, classes)
    return RankedNoisyOracle(pool, len(classes), options.noise, hard, wrong, seed=seed)


def oracle_options(kind: str, noise: float, difficulty: Path | None) -> Options:
    """The options oracle `kind` reads from the config's `oracle_noise` and `oracle_difficulty` (an oracle
    that reads neither, the simulated one, gets none), checked against its options model."""
    model = ORACLES.get(kind).options
    given = {k: v for k, v in (("noise", noise), ("difficulty", difficulty)) if k in model.model_fields}
    return validate_options(model, given, f"experiment.oracle {kind!r}")


def build_oracle(
    kind: str,
    pool: Sequence[Record],
    classes: Sequence[str],
    noise: float,
    difficulty: Path | None,
    seed: int,
) -> Oracle:
    """The oracle `experiment.oracle` names for one seed: the data set's labels, or a noisy expert."""
    return ORACLES.get(kind).build(pool, classes, oracle_options(kind, noise, difficulty), seed)
