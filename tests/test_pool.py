"""PoolState: purchase bookkeeping, errors, and save/load that survives crashes and keeps the rng stream."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lesionlab.data.pool_state import PoolState
from lesionlab.errors import DataError

ORACLE = {f"img{i}": i % 2 for i in range(6)}


def make_state() -> PoolState:
    return PoolState(pool_ids=list(ORACLE), labels={}, held_out=["val0", "test0"], history=[])


# --- bookkeeping ---------------------------------------------------------------------------------------


def test_buy_moves_ids_from_unlabeled_to_labeled_in_purchase_order() -> None:
    state = make_state()
    state.buy(["img4", "img1"], ORACLE)  # the oracle holds more ids than are bought
    state.buy(["img0"], {"img0": np.int64(0)})
    assert state.labeled_ids() == ["img4", "img1", "img0"]
    assert state.unlabeled_ids() == ["img2", "img3", "img5"]  # pool order
    assert state.labels == {"img4": 0, "img1": 1, "img0": 0}
    assert type(state.labels["img0"]) is int
    assert state.fraction_labeled == pytest.approx(0.5)
    assert state.n_rounds == 0


@pytest.mark.parametrize(
    ("ids", "labels", "message"),
    [
        (["nope"], {"nope": 1}, "not in the pool"),
        (["val0"], {"val0": 1}, "not in the pool"),
        (["img0"], ORACLE, "already labelled"),
        (["img2", "img2"], ORACLE, "twice"),
        (["img3"], {}, "no label"),
        (["img3"], {"img3": 0.5}, "integer"),
    ],
)
def test_buy_rejects_bad_purchases_without_changing_anything(ids, labels, message) -> None:
    state = make_state()
    state.buy(["img0"], ORACLE)
    with pytest.raises(ValueError, match=message):
        state.buy(["img1", *ids], labels | {"img1": 1})
    assert state.labeled_ids() == ["img0"]


def test_constructor_rejects_inconsistent_states() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        PoolState(pool_ids=["a", "a"], labels={}, held_out=[], history=[])
    with pytest.raises(ValueError, match="held-out"):
        PoolState(pool_ids=["a", "b"], labels={}, held_out=["b"], history=[])
    with pytest.raises(ValueError, match="not in the pool"):
        PoolState(pool_ids=["a"], labels={"b": 0}, held_out=[], history=[])


def test_empty_pool_fraction_is_zero() -> None:
    assert PoolState(pool_ids=[], labels={}, held_out=[], history=[]).fraction_labeled == 0.0


# --- rng and rounds ------------------------------------------------------------------------------------


def test_rng_needs_a_recorded_state() -> None:
    with pytest.raises(ValueError, match="no random state"):
        make_state().rng()


def test_record_round_appends_history_and_stores_rng_state() -> None:
    state = make_state()
    rng = np.random.default_rng(7)
    rng.random(3)
    entry = {"round": 0, "n_labeled": 2, "new_ids": ["img0", "img1"]}
    state.record_round(entry, rng)
    entry["round"] = 99  # the history keeps its own copy
    assert state.n_rounds == 1
    assert state.history[0]["round"] == 0
    expected = rng.random(5)
    assert np.array_equal(state.rng().random(5), expected)
    rng.random(2)  # advancing the caller's generator does not change the recorded state
    assert np.array_equal(state.rng().random(5), expected)


# --- save / load ---------------------------------------------------------------------------------------


def test_save_load_round_trip_restores_everything_including_the_rng(tmp_path: Path) -> None:
    state = make_state()
    rng = np.random.default_rng(2024)
    state.buy(["img3", "img1"], ORACLE)
    chosen = rng.choice(state.unlabeled_ids(), size=2, replace=False)
    scores = rng.random(2)
    state.buy(list(chosen), ORACLE)
    entry = {
        "round": np.int64(0),
        "n_labeled": len(state.labels),
        "fraction": state.fraction_labeled,
        "new_ids": chosen,  # numpy array of str
        "new_scores": scores,
        "new_class_counts": {"other": np.int32(1), "melanoma": 1},
        "metrics": {"auc": np.float32(0.75)},
    }
    state.record_round(entry, rng)
    path = tmp_path / "run" / "pool.json"
    state.save(path)

    loaded = PoolState.load(path)
    assert loaded.pool_ids == state.pool_ids
    assert loaded.labels == state.labels
    assert loaded.labeled_ids() == state.labeled_ids()
    assert loaded.held_out == ["val0", "test0"]
    assert loaded.history[0]["round"] == 0
    assert loaded.history[0]["new_ids"] == list(chosen)
    assert loaded.history[0]["new_scores"] == pytest.approx(list(scores))
    assert loaded.history[0]["new_class_counts"] == {"other": 1, "melanoma": 1}
    assert loaded.n_rounds == 1
    # The resumed generator continues the original stream exactly.
    assert np.array_equal(loaded.rng().random(10), rng.random(10))
    assert np.array_equal(loaded.rng().integers(0, 1000, 5), state.rng().integers(0, 1000, 5))


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    state = make_state()
    path = tmp_path / "pool.json"
    state.save(path)
    state.buy(["img0"], ORACLE)
    state.save(path)  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["pool.json"]
    assert PoolState.load(path).labels == {"img0": 0}


def test_interrupted_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = make_state()
    path = tmp_path / "pool.json"
    state.buy(["img0"], ORACLE)
    state.save(path)
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    state.buy(["img1"], ORACLE)
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        state.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert PoolState.load(path).labeled_ids() == ["img0"]


@pytest.mark.parametrize(
    "content",
    [
        '{"format": "lesionlab.pool", "version": 1, "pool_ids": ["a"',  # truncated write
        "[1, 2, 3]",
        '{"format": "lesionlab.pool", "version": 1}',  # keys missing
        '{"format": "lesionlab.pool", "version": 1, "pool_ids": ["a"], "labels": {"b": 0},'
        ' "held_out": [], "history": [], "rng_state": null}',  # label outside the pool
        '{"format": "lesionlab.pool", "version": 1, "pool_ids": ["a"], "labels": {},'
        ' "held_out": [], "history": [], "rng_state": {"bit_generator": "Nope"}}',
        '{"format": "lesionlab.pool", "version": 7, "pool_ids": []}',
    ],
)
def test_load_of_a_corrupt_file_names_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pool.json"
    path.write_text(content)
    with pytest.raises(DataError, match=r"pool\.json"):
        PoolState.load(path)


def test_load_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.json"):
        PoolState.load(tmp_path / "missing.json")


def test_saved_file_is_plain_json(tmp_path: Path) -> None:
    state = make_state()
    state.buy(["img2"], ORACLE)
    state.save(tmp_path / "pool.json")
    payload = json.loads((tmp_path / "pool.json").read_text())
    assert payload["labels"] == {"img2": 0}
    assert payload["rng_state"] is None
