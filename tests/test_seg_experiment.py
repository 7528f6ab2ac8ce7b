"""Zhao et al. 2022 end to end on tiny generated images: pre-train (Models Genesis), pick the initial set with
ssl_kmeans on the pre-trained features, warm-start the U-Net, and run segmentation active learning
through `lesionlab run`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from fake_isic import make_tiny_isic
from lesionlab.cli import app
from lesionlab.selection.seg_uncertainty import pixel_disagreement

STRATEGIES = [
    "random",
    "pixel_entropy",
    "pixel_mc_dropout",
    "pixel_ens_js",
    "coreset",
    "confident_coreset",
    "ceal",
    "ssl_kmeans",
]


@pytest.fixture(autouse=True)
def _one_thread(no_network: None):
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_pretrain_then_segmentation_active_learning(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    data = {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"}
    model = {"backbone": "unet", "width": 4, "weights": "none"}
    pre = tmp_path / "pre.yaml"
    pre.write_text(
        yaml.safe_dump(
            {
                "data": data,
                "model": model,
                "epochs": 2,
                "batch_size": 8,
                "resolution": 32,
                "num_threads": 1,
                "progress": False,
                "output": str(tmp_path / "pretrained"),
                "cache_dir": str(tmp_path / "cache"),
            }
        )
    )
    runner = CliRunner()
    res = runner.invoke(app, ["pretrain", str(pre)])
    assert res.exit_code == 0, res.output
    ckpt = str(tmp_path / "pretrained" / "model.pt")
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "tiny-seg",
                "task": "segmentation",
                "data": data,
                "model": {**model, "weights": ckpt},
                "train": {
                    "resolution": 32,
                    "epochs": 3,
                    "batch_size": 8,
                    "freeze_stages": 0,
                    "lr": 0.01,
                    "patience": 0,
                    "num_threads": 1,
                    "preprocessing": "grayscale_minmax",
                },
                "experiment": {
                    "strategies": STRATEGIES,
                    "strategy_params": {
                        "ssl_kmeans": {"k": 3, "pool": 2, "checkpoint": ckpt},
                        "confident_coreset": {"alpha": 0.5},
                        "ceal": {"pseudo": 3},
                    },
                    "seeds": [0],
                    "initial": {"kind": "strategy", "strategy": "ssl_kmeans", "size": 10},
                    "budget": 6,
                    "rounds": 1,
                    "mc_samples": 3,
                    "ensemble_size": 2,
                    "evaluate_on": "val",
                },
                "output": str(tmp_path / "run"),
                "cache_dir": str(tmp_path / "cache"),
            }
        )
    )
    res = runner.invoke(app, ["run", str(exp)])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["task"] == "segmentation" and results["metric"] == "jaccard"
    initial = None
    for run in results["runs"]:
        rounds = run["rounds"]
        assert [r["n_labeled"] for r in rounds] == [10, 16]
        for r in rounds:
            assert 0 <= r["metrics"]["dice"] <= 1 and 0 <= r["metrics"]["jaccard"] <= r["metrics"]["dice"]
        assert len(set(rounds[0]["new_ids"])) == 6
        # The report's gallery shows overlays of the true and predicted outlines of the chosen images.
        overlays = rounds[0]["top_images"]
        assert overlays and all(Path(o).suffix == ".png" and Path(o).is_file() for o in overlays)
        assert [Path(o).stem for o in overlays] == rounds[0]["new_ids"][: len(overlays)]
        # The same ssl_kmeans initial set for every strategy (model-free, seeded).
        state = json.loads((tmp_path / "run" / "state" / f"{run['strategy']}_seed0.json").read_text())
        first = sorted(state["labels"])
        bought_later = set(rounds[0]["new_ids"])
        start = sorted(set(first) - bought_later)
        initial = initial or start
        assert start == initial
    # CEAL trains round 1 on its 16 bought masks plus 3 pseudo-labelled images (the most certain).
    ceal = next(r for r in results["runs"] if r["strategy"] == "ceal")["rounds"]
    pseudo = ceal[0]["pseudo_masks"]
    assert len(pseudo) == 3 and not set(pseudo) & set(ceal[0]["new_ids"])
    assert all(Path(p).is_file() for p in pseudo.values())
    assert ceal[1]["n_trained_on"] == 16 + 3
    assert next(r for r in results["runs"] if r["strategy"] == "random")["rounds"][1]["n_trained_on"] == 16
    # Segmentation is learnt: the warm-started U-Net beats the empty mask on the val lesions.
    assert max(r["rounds"][-1]["metrics"]["dice"] for r in results["runs"]) > 0.5


def test_pixel_disagreement_hand_computed() -> None:
    agree = np.full((2, 1, 2, 2), 0.8)
    d = pixel_disagreement(agree)
    assert d["variance"][0] == pytest.approx(0.0) and d["js"][0] == pytest.approx(0.0, abs=1e-12)
    split = np.stack([np.full((1, 2, 2), 0.0), np.full((1, 2, 2), 1.0)])
    d = pixel_disagreement(split)
    assert d["variance"][0] == pytest.approx(0.25, abs=1e-5)
    assert d["js"][0] == pytest.approx(np.log(2), abs=1e-4)  # H(0.5) - 0


def test_round_epochs_and_fingerprints(tmp_path: Path) -> None:
    """Zhao et al. 2022's schedule (10 epochs, then 2 per round); fields added for segmentation leave the
    fingerprints of classification runs saved before them unchanged."""
    from fake_isic import make_tiny_isic as make
    from lesionlab.config import ExperimentConfig, load_config
    from lesionlab.data.sources import load_source
    from lesionlab.errors import ConfigError
    from lesionlab.runner.experiment import Experiment
    from lesionlab.runner.resume import FINGERPRINT_FORMAT, fingerprint

    tiny = make(tmp_path / "isic", masks=True)
    base = {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "output": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    plain = load_config(ExperimentConfig, base)
    ds = load_source("isic2017", tiny.root, "melanoma")
    fp = fingerprint(plain, ds)
    assert fp["format"] == FINGERPRINT_FORMAT  # every setting as written: older layouts are refused whole
    assert fp["experiment"]["round_epochs"] is None and fp["experiment"]["ensemble_members"] == "fresh"
    cfg = load_config(
        ExperimentConfig,
        {
            **base,
            "task": "segmentation",
            "model": {"backbone": "unet", "width": 4, "weights": "none"},
            "train": {"resolution": 32, "epochs": 3, "freeze_stages": 0, "num_threads": 1, "patience": 0},
            "experiment": {
                "strategies": ["random"],
                "seeds": [0],
                "round_epochs": 1,
                "learning": "acft_lq",
                "evaluate_on": "val",
            },
        },
    )
    exp = Experiment(cfg, progress=False)
    assert fingerprint(cfg, ds)["model"]["width"] == 4
    model = exp.models.new_model(0)
    strategy = exp.strategies["random"]
    assert exp.models.trainer(model, 0, 0, strategy).config.epochs == 3
    assert exp.models.trainer(model, 0, 1, strategy, continues=True).config.epochs == 1
    # A model that does not continue a fine-tuning (the first one after an empty start, a committee
    # member) trains in full.
    assert exp.models.trainer(model, 0, 1, strategy, continues=False).config.epochs == 3
    assert exp.models.trainer(exp.models.new_model(1), 1, 1).config.epochs == 3
    retrain = cfg.model_copy(update={"experiment": cfg.experiment.model_copy(update={"learning": "retrain"})})
    with pytest.raises(ConfigError, match="round_epochs shortens the rounds that continue"):
        Experiment(retrain, progress=False)


def test_strategies_of_the_other_task_are_refused_before_training(tmp_path: Path) -> None:
    from lesionlab.config import ExperimentConfig, load_config
    from lesionlab.errors import ConfigError, DataError
    from lesionlab.runner.experiment import Experiment

    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    base = {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "output": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    seg = {**base, "task": "segmentation", "model": {"backbone": "unet", "width": 4, "weights": "none"}}
    with pytest.raises(ConfigError, match=r"bald needs evidence mc_probs.*pixel_mc_dropout"):
        Experiment(load_config(ExperimentConfig, {**seg, "experiment": {"strategies": ["bald"]}}))
    with pytest.raises(ConfigError, match="pixel_entropy needs evidence pixel_uncertainty"):
        Experiment(load_config(ExperimentConfig, {**base, "experiment": {"strategies": ["pixel_entropy"]}}))
    with pytest.raises(DataError, match="evaluate_on: val"):
        Experiment(load_config(ExperimentConfig, {**seg, "experiment": {"strategies": ["random"]}}))
    # Model-free and embedding-based strategies serve both tasks.
    both = {"strategies": ["coreset", "ssl_kmeans", "pca_lsh"], "evaluate_on": "val"}
    Experiment(load_config(ExperimentConfig, {**seg, "experiment": both}))
    # Options that act on class labels would be silently ignored (noisy answers, the audit) or fail after
    # round 0 (ONNX export of a classifier): refused up front.
    for option, named in [
        ({"oracle": "noisy", "oracle_noise": 0.1}, "experiment.oracle noisy"),
        ({"audit": {"every_round": True}}, "experiment.audit.every_round"),
        ({"pool_scoring": "onnxruntime"}, "experiment.pool_scoring onnxruntime"),
        ({"learning": "acft_hq"}, "experiment.learning acft_hq"),
    ]:
        with pytest.raises(ConfigError, match=f"not for task segmentation: {named}"):
            Experiment(load_config(ExperimentConfig, {**seg, "experiment": {**both, **option}}))


def test_ceal_names_the_most_certain_unqueried_images() -> None:
    from lesionlab.selection.base import Evidence, get_strategy

    entropy = np.array([0.9, 0.1, 0.5, 0.05, 0.7, 0.2])
    ev = Evidence(
        ids=np.array(list("abcdef")), pixel_uncertainty={"entropy": entropy, "confidence": 1 - entropy}
    )
    sel = get_strategy("ceal", pseudo=2).select(ev, 2, np.random.default_rng(0))
    assert list(sel.ids) == ["a", "e"] and sel.pseudo_ids == ("d", "b")
    assert get_strategy("ceal", pseudo=0).select(ev, 2, np.random.default_rng(0)).pseudo_ids == ()


@pytest.mark.slow
def test_continued_committee_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ensemble_members: continued`: each member goes on from its previous round's weights at the
    model's lr for `round_epochs`; a run killed between rounds resumes to the same picks; a finished run
    keeps no member files; the fingerprint records the choice; learning retrain refuses it."""
    from lesionlab.config import ExperimentConfig, load_config
    from lesionlab.data.sources import load_source
    from lesionlab.errors import ConfigError
    from lesionlab.runner import experiment as experiment_module
    from lesionlab.runner import round_models as round_models_module
    from lesionlab.runner.experiment import Experiment
    from lesionlab.runner.resume import fingerprint
    from lesionlab.runner.round_models import RoundModels

    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    raw = {
        "task": "segmentation",
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "model": {"backbone": "unet", "width": 4, "weights": "none"},
        "train": {
            "resolution": 32,
            "epochs": 2,
            "lr": 0.01,
            "freeze_stages": 0,
            "num_threads": 1,
            "patience": 0,
        },
        "experiment": {
            "strategies": ["pixel_ens_s"],
            "seeds": [0],
            "initial": {"kind": "random", "size": 10},
            "budget": 4,
            "rounds": 3,
            "learning": "acft_lq",
            "continual_lr_scale": 0.5,
            "round_epochs": 1,
            "ensemble_size": 3,
            "ensemble_members": "continued",
            "evaluate_on": "val",
        },
        "cache_dir": str(tmp_path / "cache"),
    }
    loaded: list[str] = []
    real_load = experiment_module.load_weights

    def load_spy(model, saved, strategy, seed):
        loaded.append(saved.name)
        real_load(model, saved, strategy, seed)

    monkeypatch.setattr(experiment_module, "load_weights", load_spy)  # the model's
    monkeypatch.setattr(round_models_module, "load_weights", load_spy)  # the committee members'
    fits: list[tuple[int, int, float]] = []  # (round, epochs, lr) of every committee member's fit
    real_trainer = RoundModels.trainer

    def trainer_spy(self, model, seed, round_, strategy=None, lr=None, continues=False):
        trainer = real_trainer(self, model, seed, round_, strategy, lr=lr, continues=continues)
        if seed != 0:  # the members' seeds; the model's is the run's seed 0
            fits.append((round_, trainer.config.epochs, trainer.config.lr))
        return trainer

    monkeypatch.setattr(RoundModels, "trainer", trainer_spy)
    whole = load_config(ExperimentConfig, {**raw, "output": str(tmp_path / "whole")})
    results = Experiment(whole, progress=False).run()
    # Selection follows rounds 0-2 (round 3 is the last fit): round 0 trains both members afresh for
    # train.epochs at train.lr; rounds 1-2 continue each from the round before for round_epochs at the
    # model's continual lr (0.01 x 0.5).
    assert fits == [(0, 2, 0.01)] * 2 + [(1, 1, 0.005)] * 2 + [(2, 1, 0.005)] * 2
    members = [n for n in loaded if "_member" in n]
    assert members == [f"pixel_ens_s_seed0_member{k}_round{r}.pt" for r in (0, 1) for k in (1, 2)]
    # A member file goes once the next round's state is saved: a finished run keeps none.
    assert not list((tmp_path / "whole" / "state").glob("*_member*.pt"))

    # Killed after round 1's state is saved, then resumed: round 2 loads the round-1 members from disk
    # and the run picks exactly what the uninterrupted run picked.
    class Killed(Exception):
        pass

    def kill_after_round_1(strategy: str, seed: int, round_: int) -> None:
        if round_ == 1:
            raise Killed

    cut = load_config(ExperimentConfig, {**raw, "output": str(tmp_path / "cut")})
    with pytest.raises(Killed):
        Experiment(cut, progress=False).run(on_round=kill_after_round_1)
    loaded.clear()
    resumed = Experiment(cut, progress=False).run()
    assert [n for n in loaded if "_member" in n] == [f"pixel_ens_s_seed0_member{k}_round1.pt" for k in (1, 2)]
    picks = [[r["new_ids"] for r in run["rounds"]] for run in (results["runs"][0], resumed["runs"][0])]
    assert picks[0] == picks[1]

    ds = load_source("isic2017", tiny.root, "melanoma")
    assert fingerprint(whole, ds)["experiment"]["ensemble_members"] == "continued"
    with pytest.raises(ConfigError, match="ensemble_members continued"):
        retrain = {
            **raw,
            "experiment": {**raw["experiment"], "learning": "retrain", "round_epochs": None},
            "output": str(tmp_path / "retrain"),
        }
        Experiment(load_config(ExperimentConfig, retrain), progress=False)
