"""LoOP (Xue et al. 2019's "pLOF"): PyNomaly's scores, within each class; the re-weighting callback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyNomaly import loop as pynomaly

from lesionlab.data.records import Record
from lesionlab.training.auxiliary import EpochEnd
from lesionlab.training.local_outliers import (
    LoopReweighting,
    knn_graph,
    local_outlier_probabilities,
    loop_from_graph,
)


def _pynomaly(x: np.ndarray, groups: np.ndarray | None, k: int, extent: int) -> np.ndarray:
    labels = {} if groups is None else {"cluster_labels": [int(g) for g in groups]}
    model = pynomaly.LocalOutlierProbability(x, n_neighbors=k, extent=extent, **labels)
    return np.asarray(model.fit().local_outlier_probabilities, dtype=float)


def _data(seed: int, n: int = 240, d: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, d)
    x[:6] += rng.normal(0, 6, (6, d))  # a few clear outliers
    return x


@pytest.mark.parametrize(("seed", "k", "extent"), [(0, 10, 3), (1, 5, 2), (2, 20, 1), (3, 1, 3)])
def test_loop_equals_pynomaly_on_random_data(seed: int, k: int, extent: int) -> None:
    x = _data(seed)
    ours = local_outlier_probabilities(x, n_neighbors=k, extent=extent)
    np.testing.assert_allclose(ours, _pynomaly(x, None, k, extent), rtol=0, atol=1e-12)
    assert ours[:6].mean() > ours[6:].mean()  # the planted outliers score higher
    assert ((ours >= 0) & (ours <= 1)).all()


@pytest.mark.parametrize("backend", ["auto", "sklearn"])
def test_loop_within_classes_equals_pynomaly_cluster_labels(backend: str) -> None:
    x = _data(4, n=300, d=32)
    groups = np.random.default_rng(5).integers(0, 3, len(x))
    ours = local_outlier_probabilities(x, groups, n_neighbors=10, extent=3, backend=backend)
    np.testing.assert_allclose(ours, _pynomaly(x, groups, 10, 3), rtol=0, atol=1e-12)
    # Within classes is not the same as over everything.
    assert not np.allclose(ours, local_outlier_probabilities(x, None, n_neighbors=10))


def test_knn_graph_is_the_exact_neighbourhood() -> None:
    x = _data(6, n=150, d=40).astype(np.float32)
    dist, idx = knn_graph(x, 7)
    full = np.sqrt(((x[:, None, :].astype(float) - x[None].astype(float)) ** 2).sum(-1))
    np.fill_diagonal(full, np.inf)
    expected = np.argsort(full, axis=1, kind="stable")[:, :7]
    assert np.array_equal(idx, expected)
    np.testing.assert_allclose(dist, np.take_along_axis(full, expected, 1), rtol=1e-12)
    sk_dist, sk_idx = knn_graph(x, 7, backend="sklearn")
    assert np.array_equal(sk_idx, idx) and np.allclose(sk_dist, dist)
    with pytest.raises(ValueError, match="k must be"):
        knn_graph(x[:5], 5)


def _brute_force(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 distances to every other row by direct differences (as scipy's cdist), k smallest."""
    full = np.sqrt(((x[:, None, :] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(full, np.inf)
    idx = np.argsort(full, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(full, idx, 1), idx


@pytest.mark.parametrize(("n", "d", "k"), [(200, 1, 10), (60, 300, 10), (12, 5, 11), (400, 64, 10)])
def test_loop_equals_pynomaly_on_several_shapes(n: int, d: int, k: int) -> None:
    """One dimension, more dimensions than points, k = N - 1 (every point a candidate), d = 64."""
    x = np.random.default_rng(n + d).standard_t(3, size=(n, d))  # heavy tails: clear outliers
    np.testing.assert_allclose(
        local_outlier_probabilities(x, n_neighbors=k), _pynomaly(x, None, k, 3), rtol=0, atol=1e-12
    )


def test_loop_equals_pynomaly_with_duplicate_rows() -> None:
    """Exact copies tie at distance 0: whichever copy is taken, the scores are PyNomaly's."""
    rng = np.random.default_rng(9)
    base = rng.normal(size=(40, 8))
    x = np.concatenate([np.repeat(base, 3, axis=0), rng.normal(0, 3, (10, 8))])
    x = x[rng.permutation(len(x))]
    groups = rng.integers(0, 2, len(x))
    for k in (2, 5, 10):
        ours = local_outlier_probabilities(x, groups, n_neighbors=k)
        np.testing.assert_allclose(ours, _pynomaly(x, groups, k, 3), rtol=0, atol=1e-12)


def test_knn_graph_is_exact_where_float32_cannot_rank() -> None:
    """Two clusters far apart (far from their mean too), closer together inside than float32 resolves
    there: the float32 ranking is noise, every row is measured against all points in float64, and the
    graph is the exact one."""
    rng = np.random.default_rng(10)
    x = rng.normal(0, 1e-2, size=(300, 16))
    x[::2] += 1e4
    dist, idx = knn_graph(x, 10)
    expected_dist, expected_idx = _brute_force(x, 10)
    assert np.array_equal(idx, expected_idx)
    np.testing.assert_allclose(dist, expected_dist, rtol=1e-12)
    np.testing.assert_allclose(
        local_outlier_probabilities(x, n_neighbors=10), _pynomaly(x, None, 10, 3), rtol=0, atol=1e-12
    )


def test_small_classes_duplicates_and_bad_input() -> None:
    x = _data(7, n=40, d=4)
    groups = np.array([0] * 34 + [1] * 5 + [2])
    scores = local_outlier_probabilities(x, groups, n_neighbors=10)
    assert scores[-1] == 0.0  # a class of one image has no neighbourhood
    dist, idx = knn_graph(x[34:39], 4)  # a class of 5 uses k = 4
    np.testing.assert_allclose(scores[34:39], loop_from_graph(dist, idx, 3.0))
    np.testing.assert_allclose(scores[:34], local_outlier_probabilities(x[:34], n_neighbors=10))
    same = np.ones((12, 3))
    assert np.array_equal(local_outlier_probabilities(same, n_neighbors=3), np.zeros(12))
    with pytest.raises(ValueError, match="NaN"):
        local_outlier_probabilities(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="one entry per row"):
        local_outlier_probabilities(x, groups[:-1])


class _Embedder:
    """Stands in for the trainer: `embed` returns fixed embeddings and counts its calls."""

    def __init__(self, embeddings: np.ndarray) -> None:
        self.embeddings, self.calls = embeddings, 0

    def embed(self, records):
        self.calls += 1
        return self.embeddings[: len(records)]


def test_reweighting_callback_sets_one_minus_loop_on_schedule(tmp_path: Path) -> None:
    x = _data(8, n=60, d=8)
    labels = np.array([0] * 40 + [1] * 20)
    records = [Record(f"r{i}", tmp_path / f"r{i}.jpg", int(y)) for i, y in enumerate(labels)]
    trainer = _Embedder(x)
    callback = LoopReweighting(after=5, every=5, n_neighbors=6, extent=3.0)
    assert [e for e in range(1, 21) if callback.due(e)] == [5, 10, 15, 20]
    for epoch in (1, 4, 6):
        event = EpochEnd(trainer, epoch, records, None, {})  # type: ignore[arg-type]
        callback(event)
        assert event.sample_weights is None and "loop_mean_weight" not in event.row
    assert trainer.calls == 0
    event = EpochEnd(trainer, 5, records, None, {})  # type: ignore[arg-type]
    callback(event)
    expected = 1.0 - local_outlier_probabilities(x, labels, n_neighbors=6, extent=3.0)
    np.testing.assert_allclose(event.sample_weights, expected, rtol=1e-6)
    assert event.sample_weights.dtype == np.float32 and trainer.calls == 1
    assert event.row["loop_mean_weight"] == pytest.approx(expected.mean())
    assert event.row["loop_min_weight"] == pytest.approx(expected.min())
    assert expected[:6].mean() < expected[6:].mean()  # the planted outliers lose weight
