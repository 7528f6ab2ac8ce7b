"""The typed round record (`runner.rounds.RoundRecord`): it writes exactly the JSON every earlier version
wrote (keys, values and key order), and run folders saved before it existed still read, resume and report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.pool_state import PoolState
from lesionlab.errors import DataError
from lesionlab.evaluation.summary import summarize
from lesionlab.io import write_json
from lesionlab.runner.experiment import Experiment
from lesionlab.runner.rounds import FIELD_NAMES, RoundRecord, public_rounds

CLASSES = ["benign", "melanoma"]


def full_round() -> RoundRecord:
    """A round with every field set, as a simulated audited CEAL round would save it."""
    return RoundRecord(
        round=1,
        n_labeled=16,
        fraction=0.4,
        n_trained_on=18,
        annotation_cost=17,
        lr=1e-4,
        labeled_class_counts={"benign": 10, "melanoma": 6},
        best_epoch=2,
        metrics={"auc": 0.75, "accuracy": 0.5},
        val_correct=[1, 0, 1],
        train_seconds=1.5,
        train_cpu_seconds=2.25,
        shared_first_round=True,
        shared_load_seconds=0.125,
        stop_test_p=0.5,
        pseudo_masks={"ISIC_1": "/run/state/pseudo/ISIC_1.png"},
        relabeled_ids=["ISIC_2"],
        relabel_changed=[],
        wrong_labels_before_relabel=3,
        audit_skipped=False,
        wrong_labels=3,
        selection_seconds=0.75,
        selection_cpu_seconds=0.5,
        new_ids=["ISIC_3", "ISIC_4"],
        new_scores=[0.9, 0.25],
        new_class_counts={"benign": 1, "melanoma": 1},
        top_images=["/data/ISIC_3.jpg", "/data/ISIC_4.jpg"],
    )


def results_with(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The smallest results.json the readers accept, with one run of `rounds`."""
    return {
        "name": "old",
        "metric": "auc",
        "classes": CLASSES,
        "n_eval": 16,
        "full_data": None,
        "runs": [{"strategy": "random", "seed": 0, "rounds": rounds}],
    }


def test_a_round_round_trips_through_results_json_unchanged(tmp_path: Path) -> None:
    record = full_round()
    # Every field is written when set (a round that selects is not the last, so it has no stop reason).
    assert set(record.to_dict()) == FIELD_NAMES - {"finished", "stop_reason"}
    write_json(tmp_path / "results.json", results_with(public_rounds([record.to_dict()])))
    text = (tmp_path / "results.json").read_text()
    (read,) = json.loads(text)["runs"][0]["rounds"]
    assert "val_correct" not in read  # kept in the pool state only
    assert read == {k: v for k, v in record.to_dict().items() if k != "val_correct"}
    again = RoundRecord.from_dict(read)
    assert again == RoundRecord(**{**vars(record), "val_correct": None})
    write_json(tmp_path / "again.json", results_with([again.public()]))
    assert (tmp_path / "again.json").read_text() == text  # byte for byte, key order included


def test_the_pool_state_keeps_the_record_as_written(tmp_path: Path) -> None:
    record, finished = full_round(), RoundRecord(round=2, n_labeled=24, metrics={"auc": 0.8})
    finished.finish("2 rounds done")
    state = PoolState(pool_ids=["a", "b"], history=[record.to_dict(), finished.to_dict()])
    state.save(tmp_path / "state.json")
    history = PoolState.load(tmp_path / "state.json").history
    assert [RoundRecord.from_dict(e) for e in history] == [record, finished]
    last = ["round", "n_labeled", "metrics", "finished", "stop_reason", "selection_seconds", "new_ids"]
    assert list(history[1]) == last


# Rounds as earlier versions wrote them (key orders found in the benchmarks' results.json files): before
# class counts, before learning rates and annotation cost, before CPU seconds.
OLD_ROUNDS = [
    {
        "round": 0,
        "n_labeled": 8,
        "fraction": 0.2,
        "n_trained_on": 8,
        "best_epoch": 2,
        "metrics": {"auc": 0.6},
        "train_seconds": 3.0,
        "selection_seconds": 1.0,
        "new_ids": ["ISIC_5"],
        "new_scores": [0.5],
        "new_class_counts": {"benign": 1, "melanoma": 0},
        "top_images": ["/data/ISIC_5.jpg"],
    },
    {
        "round": 1,
        "n_labeled": 9,
        "fraction": 0.225,
        "n_trained_on": 9,
        "labeled_class_counts": {"benign": 6, "melanoma": 3},
        "best_epoch": 1,
        "metrics": {"auc": 0.7},
        "train_seconds": 2.0,
        "stop_test_p": 0.25,
        "finished": True,
        "stop_reason": "1 rounds done",
        "selection_seconds": 0.0,
        "new_ids": [],
        "seconds": 5.0,  # a key this version does not know
    },
]


def test_an_old_style_round_reads_and_writes_back_unchanged(tmp_path: Path) -> None:
    records = [RoundRecord.from_dict(entry) for entry in OLD_ROUNDS]
    assert records[0].lr is None and records[0].metrics == {"auc": 0.6}
    assert records[1].finished and records[1].stop_test_p == 0.25 and records[1].extra == {"seconds": 5.0}
    for record, entry in zip(records, OLD_ROUNDS, strict=True):
        assert list(record.to_dict().items()) == list(entry.items())
    assert public_rounds(OLD_ROUNDS) == OLD_ROUNDS
    summary = summarize(results_with(public_rounds(OLD_ROUNDS)))  # the report's numbers still read
    curve = summary["strategies"]["random"]["curves"]["auc"]
    assert [p["x"] for p in curve] == pytest.approx([0.2, 0.225])
    assert [p["mean"] for p in curve] == pytest.approx([0.6, 0.7])


def test_an_empty_start_round_writes_metrics_null_and_is_left_out_of_the_results() -> None:
    empty = RoundRecord(round=0, n_labeled=0, metrics=None, train_seconds=0.0, train_cpu_seconds=0.0)
    assert empty.to_dict() == {
        "round": 0,
        "n_labeled": 0,
        "metrics": None,
        "train_seconds": 0.0,
        "train_cpu_seconds": 0.0,
    }
    assert public_rounds([empty.to_dict(), OLD_ROUNDS[0]]) == [OLD_ROUNDS[0]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("rounds") / "isic2017")


def tiny_config(tiny: TinyIsic, out: Path) -> ExperimentConfig:
    return load_config(
        ExperimentConfig,
        {
            "name": "old folder",
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "train": {"resolution": 32, "epochs": 1, "num_threads": 1, "progress": False},
            "experiment": {"strategies": ["random"], "seeds": [0], "rounds": 1, "budget": 1},
            "output": str(out),
            "cache_dir": str(out.parent / "cache"),
        },
    )


def test_a_run_folder_saved_by_an_earlier_version_resumes_and_reports(
    tiny: TinyIsic, tmp_path: Path, no_network: None
) -> None:
    """A finished unit whose state holds old-style rounds: the runner reads it without training and
    rewrites results.json with those rounds as they were."""
    experiment = Experiment(tiny_config(tiny, tmp_path / "run"), progress=False)
    pool = [r.id for r in experiment.pool]
    state = PoolState(pool_ids=pool, labels={i: 0 for i in pool[:9]}, history=[dict(e) for e in OLD_ROUNDS])
    state.save(tmp_path / "run" / "state" / "random_seed0.json")
    results = experiment.run()
    assert results["runs"][0]["rounds"] == OLD_ROUNDS
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["runs"][0]["rounds"] == OLD_ROUNDS


def test_a_saved_round_without_its_number_is_one_error_naming_the_file(
    tiny: TinyIsic, tmp_path: Path, no_network: None
) -> None:
    experiment = Experiment(tiny_config(tiny, tmp_path / "run"), progress=False)
    pool = [r.id for r in experiment.pool]
    path = tmp_path / "run" / "state" / "random_seed0.json"
    PoolState(pool_ids=pool, labels={pool[0]: 0}, history=[{"n_labeled": 1, "metrics": None}]).save(path)
    with pytest.raises(DataError, match=r"random_seed0\.json: its last round has no round number"):
        experiment.run_one("random", 0)
