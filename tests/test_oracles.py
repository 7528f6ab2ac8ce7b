"""Oracles: the simulated expert, a noisy one, and a label store a person fills in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesionlab.data.records import Record
from lesionlab.errors import DataError
from lesionlab.runner.oracles import (
    LabelStore,
    MemoryLabelStore,
    NoisyOracle,
    Oracle,
    SimulatedOracle,
    StoreOracle,
)


def pool(n: int = 400, classes: int = 3) -> list[Record]:
    return [Record(id=f"img{i}", image_path=Path(f"/x/{i}.png"), label=i % classes) for i in range(n)]


def test_simulated_oracle_reveals_the_hidden_labels() -> None:
    oracle = SimulatedOracle(pool(6))
    assert isinstance(oracle, Oracle)
    assert oracle.query(["img4", "img0"]) == {"img4": 1, "img0": 0}
    with pytest.raises(DataError, match="no label for 1 id"):
        oracle.query(["img0", "nope"])


def test_noisy_oracle_is_wrong_at_its_rate_and_always_gives_the_same_answer() -> None:
    records = pool()
    truth = {r.id: r.label for r in records}
    oracle = NoisyOracle(records, num_classes=3, rate=0.2, seed=1)
    ids = [r.id for r in records]
    answers = oracle.query(ids)
    wrong = [i for i in ids if answers[i] != truth[i]]
    assert 0.13 < len(wrong) / len(ids) < 0.27  # 400 draws at 0.2: a 3.5-sigma band
    assert sorted(oracle.flipped(ids)) == sorted(wrong)
    assert all(0 <= answers[i] < 3 for i in ids)
    # Asked again, alone or in another order: the same answers; another seed: another expert.
    assert oracle.query(ids[::-1]) == answers
    assert {i: oracle.query([i])[i] for i in ids[:50]} == {i: answers[i] for i in ids[:50]}
    assert NoisyOracle(records, 3, 0.2, seed=2).query(ids) != answers
    assert NoisyOracle(records, 3, 0.0).query(ids) == truth


def test_noisy_oracle_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="rate"):
        NoisyOracle(pool(3), 3, 1.0)


def test_store_oracle_answers_what_a_person_has_labelled_so_far() -> None:
    store = MemoryLabelStore(["a", "b", "c"], {"a": 1})
    assert isinstance(store, LabelStore)
    oracle = StoreOracle(store)
    assert oracle.query(["a", "b"]) == {"a": 1}
    assert oracle.pending(["a", "b", "c"]) == ["b", "c"]
    store.save_label("b", 0, annotator="dr. x")
    assert oracle.query(["a", "b"]) == {"a": 1, "b": 0}
    assert store.labeled_ids() == ["a", "b"] and store.unlabeled_ids() == ["c"]
    with pytest.raises(DataError, match="not an image of this store"):
        store.save_label("zzz", 1)
    assert np.array_equal(store.image_ids(), ["a", "b", "c"])
