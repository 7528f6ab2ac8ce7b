"""`experiment.pool_scoring: onnxruntime`: the loop's evidence from the round's model run in ONNX Runtime
equals the trainer's (full-precision path) to the export tolerance, and an experiment runs with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fake_isic import TinyIsic, tiny_train_config
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.sources import load_source
from lesionlab.models.registry import create_classifier
from lesionlab.runner.experiment import run_experiment
from lesionlab.scoring.onnx_export import EMBED_RTOL, PROBS_ATOL
from lesionlab.selection.base import get_strategy
from lesionlab.selection.evidence import EvidenceSettings, collect_evidence
from lesionlab.training.trainer import Trainer

pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.usefixtures("offline_single_thread"), pytest.mark.slow]


@pytest.mark.parametrize("on_disk", [False, True])
def test_onnx_evidence_equals_the_trainers(tiny_isic: TinyIsic, tmp_path: Path, on_disk: bool) -> None:
    dataset = load_source("isic2017", tiny_isic.root, "melanoma")
    pool = dataset.split("train")
    model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)
    # Full fine-tuning path: the trainer computes from the decoded images in float32, as ONNX Runtime does.
    trainer = Trainer(model, tiny_train_config(freeze_stages=0), cache_dir=tmp_path / "cache")
    trainer.fit(pool[:16])
    strategy = get_strategy("bald")  # probs, and MC dropout drawn from the embeddings
    unlabeled = pool[16:]
    disk_above = 10 if on_disk else None
    settings = {"workdir": tmp_path / "state", "disk_above": disk_above, "mc_samples": 4}
    reference = collect_evidence(strategy, trainer, unlabeled, settings=EvidenceSettings(**settings))
    onnx = collect_evidence(
        strategy, trainer, unlabeled, settings=EvidenceSettings(**settings, scoring="onnxruntime")
    )
    assert isinstance(onnx.mc_probs, np.memmap) == on_disk
    assert onnx.mc_probs.shape == reference.mc_probs.shape == (4, len(unlabeled), 2)
    probs = get_strategy("least_confidence")
    evidence_t = collect_evidence(probs, trainer, unlabeled, settings=EvidenceSettings(**settings))
    evidence_o = collect_evidence(
        probs, trainer, unlabeled, settings=EvidenceSettings(**settings, scoring="onnxruntime")
    )
    np.testing.assert_allclose(evidence_o.probs, evidence_t.probs, rtol=0, atol=PROBS_ATOL)
    assert np.ptp(evidence_t.probs[:, 1]) > 1e-3  # a trained model that tells the images apart
    a = probs.select(evidence_t, 5, np.random.default_rng(0))
    b = probs.select(evidence_o, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(a.ids, b.ids)
    # The trainer's model is left as it was (device, layout, mode), and nothing stays on disk.
    assert not any((tmp_path / "state").iterdir())
    emb_t, emb_o = (
        trainer.embed(unlabeled),
        np.asarray(
            collect_evidence(
                get_strategy("coreset"),
                trainer,
                unlabeled,
                pool[:16],
                pool,
                EvidenceSettings(**settings, scoring="onnxruntime"),
            ).embeddings
        ),
    )
    np.testing.assert_allclose(emb_o, emb_t, rtol=0, atol=EMBED_RTOL * np.abs(emb_t).max())


def test_an_experiment_scores_its_pool_with_onnxruntime(tiny_isic: TinyIsic, tmp_path: Path) -> None:
    config = load_config(
        ExperimentConfig,
        {
            "data": {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"},
            "train": tiny_train_config().model_dump(),
            "experiment": {
                "strategies": ["least_confidence"],
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 1,
                "pool_scoring": "onnxruntime",
            },
            "output": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    results = run_experiment(config, progress=False)
    rounds = results["runs"][0]["rounds"]
    assert len(rounds) == 2 and len(rounds[0]["new_ids"]) == 8
    assert results["config"]["experiment"]["pool_scoring"] == "onnxruntime"
    assert not [p for p in (tmp_path / "run" / "state").iterdir() if p.name.startswith(".onnx")]
