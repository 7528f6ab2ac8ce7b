"""The noisy oracle in the loop (issue 16 item 8): second looks, model-ranked wrong answers, the audit
step that spends part of each round's budget on re-labels, and the report at equal annotation cost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_isic import make_tiny_isic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.evaluation.page import _rounds_table
from lesionlab.evaluation.summary import summarize
from lesionlab.runner import audit_step
from lesionlab.runner.experiment import Experiment, run_experiment
from lesionlab.runner.oracles import NoisyOracle, RankedNoisyOracle, SimulatedOracle, read_difficulty


def records(labels) -> list[Record]:
    return [Record(id=f"im{i}", image_path=Path(f"im{i}.jpg"), label=int(y)) for i, y in enumerate(labels)]


def test_a_second_look_errs_at_the_rate_independently_of_the_first():
    pool = records(np.arange(4000) % 3)
    oracle = NoisyOracle(pool, 3, 0.2, seed=5)
    ids = [r.id for r in pool]
    first, second = oracle.query(ids), oracle.requery(ids)
    truth = oracle.truth(ids)
    wrong1 = np.array([first[i] != truth[i] for i in ids])
    wrong2 = np.array([second[i] != truth[i] for i in ids])
    assert abs(wrong1.mean() - 0.2) < 0.03 and abs(wrong2.mean() - 0.2) < 0.03
    assert abs((wrong1 & wrong2).mean() - 0.04) < 0.015  # independent: 0.2 x 0.2
    assert oracle.requery(ids) == second and oracle.requery(ids, attempt=2) != second
    assert oracle.query(ids) == first  # asking again never changes the first answers
    with pytest.raises(ValueError, match="attempt 1 or later"):
        oracle.requery(ids, attempt=0)
    assert SimulatedOracle(pool).requery(ids[:3]) == truth_of(pool, 3)


def truth_of(pool, n):
    return {r.id: r.label for r in pool[:n]}


def test_the_ranked_oracle_errs_on_the_hardest_share_of_each_class():
    labels = np.array([0] * 10 + [1] * 20)
    pool = records(labels)
    difficulty = {r.id: float(i % 10) for i, r in enumerate(pool)}  # 9 hardest in each run of ten
    oracle = RankedNoisyOracle(pool, 3, 0.2, difficulty, wrong_label={"im9": 2}, seed=0)
    answers = oracle.query([r.id for r in pool])
    wrong = sorted(i for i, r in enumerate(pool) if answers[r.id] != r.label)
    assert wrong == [8, 9, 18, 19, 28, 29]  # class 0: 2 of 10; class 1: 4 of 20, hardest first
    assert answers["im9"] == 2 and answers["im8"] != 0
    assert sorted(oracle.flipped([r.id for r in pool])) == sorted(f"im{i}" for i in wrong)


def test_read_difficulty(tmp_path):
    path = tmp_path / "hard.csv"
    path.write_text("image_id,difficulty,wrong_label\na,0.5,nevus\nb,2,\n")
    assert read_difficulty(path, ["nevus", "melanoma"]) == ({"a": 0.5, "b": 2.0}, {"a": 0})
    path.write_text("image_id,difficulty\na,high\n")
    with pytest.raises(ConfigError, match="line 2"):
        read_difficulty(path, ["nevus", "melanoma"])


def test_budget_split_and_run_names():
    assert audit_step.split_budget(20, 0.1, "random+audit") == (18, 2)
    assert audit_step.split_budget(20, 0.1, "random") == (20, 0)
    assert audit_step.base_strategy("bald+audit") == "bald"
    exp = load_config(
        ExperimentConfig,
        {"experiment": {"strategies": ["random", "bald"], "audit": {"every_round": True, "compare": True}}},
    ).experiment
    assert audit_step.run_names(exp) == ["random", "bald", "random+audit", "bald+audit"]


def test_relabel_round_fixes_wrong_labels_on_an_easy_case():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    pool = records(truth)
    centres = rng.normal(0, 3, (2, 8))
    table = {r.id: centres[r.label] + rng.normal(0, 1, 8) for r in pool}
    oracle = NoisyOracle(pool, 2, 0.15, seed=1)
    state = PoolState(pool_ids=[r.id for r in pool], labels={}, held_out=[], history=[])
    state.buy(state.pool_ids, oracle.query(state.pool_ids))
    memo = audit_step.FeatureMemo(lambda recs, views: np.stack([[table[r.id] for r in recs]] * views), 2)
    by_id = {r.id: r for r in pool}
    out = audit_step.relabel_round(state, oracle, by_id, memo, 2, 30, seed=0, round_=0)
    assert len(out["relabeled_ids"]) == 30
    before, after = out["wrong_labels_before_relabel"], out["wrong_labels"]
    assert before == len(oracle.flipped(state.pool_ids)) and after <= before - 15
    # A second audit never re-labels an image twice.
    state.history.append({"round": 0, **out})
    again = audit_step.relabel_round(state, oracle, by_id, memo, 2, 30, seed=0, round_=1)
    assert not set(again["relabeled_ids"]) & set(out["relabeled_ids"])
    assert audit_step.annotation_cost(state) == 200 + 30


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit_loop")
    tiny = make_tiny_isic(root / "isic2017")
    config = {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "train": {
            "resolution": 32,
            "epochs": 1,
            "views": 2,
            "batch_size": 8,
            "num_threads": 1,
            "progress": False,
        },
        "experiment": {
            "strategies": ["random"],
            "seeds": [0],
            "initial": {"kind": "random", "size": 10},
            "budget": 10,
            "rounds": 2,
            "oracle": "noisy",
            "oracle_noise": 0.3,
            "audit": {"every_round": True, "relabel_fraction": 0.2, "compare": True, "views": 2, "folds": 2},
        },
        "output": str(root / "run"),
        "cache_dir": str(root / "cache"),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = load_config(ExperimentConfig, config)
        yield cfg, run_experiment(cfg, progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_the_audited_run_pays_the_same_per_round(audited_run, no_network):
    cfg, results = audited_run
    runs = {r["strategy"]: r["rounds"] for r in results["runs"]}
    assert list(runs) == ["random", "random+audit"]
    plain, audited = runs["random"], runs["random+audit"]
    assert [r["annotation_cost"] for r in plain] == [10, 20, 30] == [r["annotation_cost"] for r in audited]
    assert [r["n_labeled"] for r in audited] == [10, 18, 26]  # 2 of every 10 labels paid are re-labels
    assert all(len(r["relabeled_ids"]) == 2 for r in audited[:-1])
    assert all(r["relabeled_ids"] == [] for r in plain[:-1])
    state = PoolState.load(Path(cfg.output) / "state" / "random+audit_seed0.json")
    relabeled = [i for r in audited[:-1] for i in r["relabeled_ids"]]
    assert len(set(relabeled)) == 4 and set(relabeled) <= set(state.labels)  # bought ones, never twice
    assert "wrong_labels" in audited[0] and "wrong_labels" in plain[0]


def test_the_report_compares_at_equal_cost(audited_run, no_network):
    cfg, results = audited_run
    summary = summarize(results)
    assert summary["x_axis"] == "annotation_cost"
    plain, audited = summary["strategies"]["random"], summary["strategies"]["random+audit"]
    assert plain["fraction"] == audited["fraction"] == pytest.approx([10 / 40, 20 / 40, 30 / 40])
    assert audited["n_labeled"] == [10, 18, 26] and audited["annotation_cost"] == [10, 20, 30]
    table = _rounds_table(summary)  # the per-round table heads its x column by what was paid
    assert table["head"][2:5] == ["n labelled", "annotations", "annotations / pool"]
    assert [row[2:5] for row in table["rows"] if row[0] == "random+audit"][1] == ["18", "20", "0.500"]
    assert (
        json.loads((Path(cfg.output) / "results.json").read_text())["runs"][1]["strategy"] == "random+audit"
    )


def test_the_fingerprint_records_the_audit_and_the_oracles_own_options(audited_run):
    from lesionlab.data.loading import load_dataset
    from lesionlab.runner.resume import fingerprint

    cfg, _ = audited_run
    dataset = load_dataset(cfg)
    plain = cfg.model_copy(update={"experiment": cfg.experiment.updated(audit={"every_round": False})})
    assert fingerprint(plain, dataset)["experiment"]["audit"]["every_round"] is False
    assert fingerprint(cfg, dataset)["experiment"]["audit"]["relabel_fraction"] == 0.2
    # The noisy oracle reads its noise, not a difficulty file: only what it reads is recorded.
    assert fingerprint(cfg, dataset)["oracle"] == {"name": "noisy", "options": {"noise": 0.3}}


def test_the_ranked_oracle_needs_its_difficulty_file(tmp_path):
    tiny = make_tiny_isic(tmp_path / "isic2017")
    cfg = load_config(
        ExperimentConfig,
        {
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "experiment": {"strategies": ["random"], "oracle": "noisy_ranked", "oracle_noise": 0.1},
            "output": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    with pytest.raises(ConfigError, match="oracle_difficulty"):
        Experiment(cfg, progress=False).oracle(0)


def test_audit_command_audits_the_labels_a_run_bought(audited_run, no_network):
    from typer.testing import CliRunner

    from lesionlab.cli import app

    cfg, _ = audited_run
    state = PoolState.load(Path(cfg.output) / "state" / "random_seed0.json")
    truth = {r.id: r.label for r in load_pool(cfg)}
    wrong = {i for i, label in state.labels.items() if label != truth[i]}
    args = ["audit", str(cfg.output), "--run", "random:0", "--views", "2", "--folds", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((Path(cfg.output) / "audit" / "audit.json").read_text())
    assert summary["n_images"] == len(state.labels) and summary["split"] == "labels bought by random:0"
    assert summary["at_k"][0]["n_flipped"] == len(wrong)
    result = CliRunner().invoke(app, ["audit", str(cfg.output), "--run", "bald:0"])
    assert isinstance(result.exception, ConfigError) and "random+audit:0" in str(result.exception)


def load_pool(cfg):
    from lesionlab.data.loading import load_dataset

    return load_dataset(cfg, verify_files=False).split("train")


def test_a_split_that_leaves_no_new_image_is_refused_before_training(tmp_path):
    """budget 4 with relabel_fraction 0.9 would re-label 4 and buy 0 new images: select(0) after round 0's
    training. Refused at the start, naming both settings."""
    tiny = make_tiny_isic(tmp_path / "isic2017")
    experiment = {"strategies": ["random"], "budget": 4, "oracle": "noisy", "oracle_noise": 0.1}
    base = {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "output": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    bad = {**experiment, "audit": {"every_round": True, "relabel_fraction": 0.9}}
    with pytest.raises(ConfigError, match=r"relabel_fraction 0.9 spends all 4 labels.*experiment.budget"):
        Experiment(load_config(ExperimentConfig, {**base, "experiment": bad}), progress=False)
    fine = {**experiment, "audit": {"every_round": True, "relabel_fraction": 0.5}}
    Experiment(load_config(ExperimentConfig, {**base, "experiment": fine}), progress=False)


def test_the_fingerprint_holds_the_difficulty_files_content(tmp_path):
    """Resuming after the difficulty CSV was edited would mix two oracles under one name: the fingerprint
    changes with the file's bytes, not only its path."""
    from lesionlab.data.sources import load_source
    from lesionlab.runner.resume import fingerprint

    tiny = make_tiny_isic(tmp_path / "isic2017")
    csv = tmp_path / "difficulty.csv"
    csv.write_text("image_id,difficulty\nISIC_0000000,1.0\n")
    cfg = load_config(
        ExperimentConfig,
        {
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "experiment": {
                "strategies": ["random"],
                "oracle": "noisy_ranked",
                "oracle_noise": 0.1,
                "oracle_difficulty": str(csv),
            },
        },
    )
    ds = load_source("isic2017", tiny.root, "melanoma")
    before = fingerprint(cfg, ds)
    csv.write_text("image_id,difficulty\nISIC_0000000,0.0\n")
    assert fingerprint(cfg, ds) != before
