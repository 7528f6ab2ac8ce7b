"""Zhao et al. 2022's cold start: quotas N_Ci = ceil(C N_i / N) trimmed to C, the picks, the features."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_isic import make_tiny_isic
from lesionlab.data.sources import load_source
from lesionlab.selection.base import Evidence, get_strategy
from lesionlab.selection.evidence import EvidenceSettings, collect_evidence, model_free
from lesionlab.selection.ssl_kmeans import cluster_quotas, kmeans_picks


@pytest.mark.parametrize(
    ("sizes", "total"),
    [([800, 400, 250, 150], 300), ([1, 1, 1, 997], 10), ([160] * 10, 300), ([7, 3, 5, 1, 9], 6), ([5], 5)],
)
def test_quotas_sum_to_c_and_are_proportional(sizes: list[int], total: int) -> None:
    q = cluster_quotas(np.array(sizes), total)
    assert q.sum() == total
    exact = total * np.array(sizes) / sum(sizes)
    assert (np.abs(q - exact) < 1).all()  # within one of the exact share
    assert (q <= np.array(sizes)).all() and (q >= 0).all()
    # Where no trimming is needed the quotas are the paper's ceilings.
    ceilings = np.array([math.ceil(total * s / sum(sizes)) for s in sizes])
    if ceilings.sum() == total:
        np.testing.assert_array_equal(q, ceilings)


def test_quotas_hand_computed() -> None:
    # C = 10 over N = 100 in clusters 55 / 30 / 15: exact 5.5 / 3 / 1.5, ceilings 6 / 3 / 2 = 11; the one
    # extra pick goes back from a cluster rounded up by 0.5 (ties: the smaller cluster gives it back).
    np.testing.assert_array_equal(cluster_quotas(np.array([55, 30, 15]), 10), [6, 3, 1])
    np.testing.assert_array_equal(cluster_quotas(np.array([50, 50]), 10), [5, 5])
    with pytest.raises(ValueError):
        cluster_quotas(np.array([2, 2]), 5)


def test_kmeans_picks_are_the_points_nearest_each_centroid() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [50, 0], [0, 50]], dtype=float)
    sizes = [60, 30, 10]
    x = np.concatenate([c + rng.normal(0, 1, (n, 2)) for c, n in zip(centres, sizes, strict=True)])
    rows, dist = kmeans_picks(x, 10, 3, np.random.default_rng(1))
    assert len(rows) == 10 and len(set(rows)) == 10
    cluster = np.repeat([0, 1, 2], sizes)
    assert sorted(np.bincount(cluster[rows], minlength=3)) == [1, 3, 6]
    for c in range(len(sizes)):
        members = np.flatnonzero(cluster == c)
        chosen = rows[cluster[rows] == c]
        d = np.linalg.norm(x[members] - x[members].mean(0), axis=1)
        nearest = members[np.argsort(d)[: len(chosen)]]
        assert set(chosen) == set(nearest)
    assert (dist >= 0).all()


def test_strategy_picks_budget_and_is_seeded() -> None:
    x = np.random.default_rng(3).normal(size=(80, 6))
    ev = Evidence(ids=np.array([f"i{j}" for j in range(80)]), ssl_features=x)
    strat = get_strategy("ssl_kmeans", k=5, pool=1)
    a = strat.select(ev, 12, np.random.default_rng(0))
    b = strat.select(ev, 12, np.random.default_rng(0))
    assert len(a.ids) == 12 and len(set(a.ids)) == 12
    np.testing.assert_array_equal(a.ids, b.ids)


@pytest.mark.slow
def test_ssl_features_need_no_model_and_pick_the_initial_set(tmp_path: Path, no_network: None) -> None:
    torch.set_num_threads(1)
    tiny = make_tiny_isic(tmp_path / "isic")
    pool = load_source("isic2017", tiny.root, "melanoma").split("train")
    strat = get_strategy("ssl_kmeans", k=3, pool=1)
    assert model_free(strat.requires)
    settings = EvidenceSettings(workdir=tmp_path / "state", image_options={"cache_dir": tmp_path / "c"})
    (tmp_path / "state").mkdir()
    ev = collect_evidence(strat, None, pool, pool=pool, settings=settings)
    assert ev.ssl_features.shape == (40, 320)  # Lite0's last stage, 1 x 1
    picked = strat.select(ev, 8, np.random.default_rng(0))
    assert len(set(picked.ids)) == 8
    # Kept with the run: a second collection reads the file (same numbers, no model needed).
    assert list((tmp_path / "state").glob("ssl_features_pool1_*.npz"))
    again = collect_evidence(
        strat, None, pool[5:], pool=pool, settings=EvidenceSettings(workdir=tmp_path / "state")
    )
    np.testing.assert_allclose(again.ssl_features, ev.ssl_features[5:])


@pytest.mark.slow
def test_a_classification_experiment_takes_ssl_kmeans_as_its_initial_strategy(tmp_path: Path) -> None:
    from lesionlab.config import ExperimentConfig, load_config
    from lesionlab.runner.experiment import Experiment

    tiny = make_tiny_isic(tmp_path / "isic")
    cfg = load_config(
        ExperimentConfig,
        {
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "experiment": {
                "strategies": ["entropy"],
                "initial": {"kind": "strategy", "strategy": "ssl_kmeans", "size": 8},
                "strategy_params": {"ssl_kmeans": {"k": 3, "pool": 1}},
            },
            "output": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    exp = Experiment(cfg, progress=False)
    first = exp._initial_ids(seed=0)
    assert len(set(first)) == 8 and first == exp._initial_ids(seed=0)


def test_the_features_file_follows_the_checkpoints_content(tmp_path: Path) -> None:
    """A checkpoint pre-trained again at the same path must not reuse the features of the old one."""
    from lesionlab.selection.ssl_kmeans import _checkpoint_tag

    ckpt = tmp_path / "pretrain" / "model.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"first weights")
    first = _checkpoint_tag(ckpt)
    ckpt.write_bytes(b"other weights, same path")
    assert _checkpoint_tag(ckpt) != first
    assert _checkpoint_tag(tmp_path / "missing.pt") == str((tmp_path / "missing.pt").resolve())
