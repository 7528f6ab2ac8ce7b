"""Representativeness: PCA features, LSH buckets, uniform bucket sampling and the dual-criteria strategies."""

from __future__ import annotations

import numpy as np
import pytest

from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, get_strategy
from lesionlab.selection.representativeness import (
    LSH_SEED,
    informative_count,
    lsh_buckets,
    pca_features,
    uniform_bucket_sample,
)


def _ids(n: int) -> np.ndarray:
    return np.array([f"img_{i:03d}" for i in range(n)])


def _near_duplicate_images(n_base: int = 20, size: int = 24, seed: int = 0) -> np.ndarray:
    """Images 2k and 2k+1 are one random base image and a copy with +-2 grey levels of noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n_base, size, size, 3)).astype(int)
    noisy = np.clip(base + rng.integers(-2, 3, size=base.shape), 0, 255)
    return np.stack([base, noisy], axis=1).reshape(-1, size, size, 3).astype(np.uint8)


# --- PCA features ------------------------------------------------------------------------------------


def test_pca_features_shape_and_determinism() -> None:
    images = _near_duplicate_images()
    feats = pca_features(images, n_components=2, size=16, seed=0)
    assert feats.shape == (len(images), 2)
    np.testing.assert_array_equal(feats, pca_features(images, n_components=2, size=16, seed=0))


def test_pca_features_first_component_is_the_dominant_variation() -> None:
    # Brightness is the only thing that varies, so the first component must order images by it.
    levels = np.linspace(10, 240, 12)
    images = np.broadcast_to(levels[:, None, None, None], (12, 20, 20, 3)).astype(np.uint8)
    feats = pca_features(images)[:, 0]
    assert abs(np.corrcoef(feats, levels)[0, 1]) > 0.999


def test_pca_features_accepts_float_images() -> None:
    images = _near_duplicate_images()
    uint8 = pca_features(images)
    floats = pca_features(images.astype(np.float32) / 255.0)
    np.testing.assert_allclose(np.abs(uint8), np.abs(floats), rtol=1e-4, atol=1e-4)


def test_pca_features_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="images"):
        pca_features(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="n_components"):
        pca_features(np.zeros((3, 8, 8, 3), np.uint8), n_components=5)


def test_near_duplicate_images_share_buckets() -> None:
    images = _near_duplicate_images(n_base=50)
    buckets = lsh_buckets(pca_features(images), n_buckets=10)
    pairs = buckets.reshape(-1, 2)
    assert np.mean(pairs[:, 0] == pairs[:, 1]) >= 0.9
    assert len(np.unique(buckets)) == 10


# --- LSH buckets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 4])
def test_near_duplicate_features_share_buckets(dim: int) -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(200, dim))
    features = np.concatenate([base, base + 1e-6 * rng.normal(size=base.shape)])
    buckets = lsh_buckets(features, n_buckets=10, seed=3)
    assert np.mean(buckets[:200] == buckets[200:]) >= 0.95


@pytest.mark.parametrize(("n", "k"), [(50, 10), (1000, 10), (37, 7), (10, 10)])
def test_buckets_populated_and_in_range(n: int, k: int) -> None:
    features = np.random.default_rng(0).normal(size=(n, 3))
    buckets = lsh_buckets(features, n_buckets=k)
    assert buckets.shape == (n,) and np.issubdtype(buckets.dtype, np.integer)
    counts = np.bincount(buckets, minlength=k)
    assert len(counts) == k
    assert counts.min() >= n // k and counts.max() <= -(-n // k)  # equal frequency


def test_buckets_follow_feature_order_in_one_dimension() -> None:
    x = np.random.default_rng(0).normal(size=100)
    buckets = lsh_buckets(x[:, None], n_buckets=10)
    sorted_buckets = buckets[np.argsort(x)]
    assert np.all(np.diff(sorted_buckets) >= 0) or np.all(np.diff(sorted_buckets) <= 0)


def test_equal_features_share_a_bucket() -> None:
    features = np.repeat(np.arange(5.0), 10)[:, None]
    buckets = lsh_buckets(features, n_buckets=10)
    for value in range(5):
        assert len(np.unique(buckets[features[:, 0] == value])) == 1


def test_lsh_deterministic_under_seed_and_varies_across_seeds() -> None:
    features = np.random.default_rng(0).normal(size=(100, 4))
    np.testing.assert_array_equal(lsh_buckets(features, seed=5), lsh_buckets(features, seed=5))
    assert not np.array_equal(lsh_buckets(features, seed=5), lsh_buckets(features, seed=6))


@pytest.mark.parametrize("n_buckets", [0, -1, 2.5, True])
def test_lsh_rejects_bad_bucket_count(n_buckets: object) -> None:
    with pytest.raises(ValueError, match="n_buckets"):
        lsh_buckets(np.zeros((5, 1)), n_buckets=n_buckets)  # type: ignore[arg-type]


# --- uniform bucket sampling -------------------------------------------------------------------------


def test_uniform_sample_two_per_bucket() -> None:
    buckets = np.repeat(np.arange(10), 5)
    picked = uniform_bucket_sample(buckets, 20, np.random.default_rng(0))
    assert len(picked) == 20 and len(set(picked.tolist())) == 20
    np.testing.assert_array_equal(np.bincount(buckets[picked], minlength=10), np.full(10, 2))


def test_uniform_sample_round_robin_prefix_is_one_per_bucket() -> None:
    buckets = np.repeat(np.arange(10), 5)
    picked = uniform_bucket_sample(buckets, 25, np.random.default_rng(4))
    assert len(np.unique(buckets[picked[:10]])) == 10
    counts = np.bincount(buckets[picked], minlength=10)
    assert sorted(counts.tolist()) == [2] * 5 + [3] * 5


def test_uniform_sample_skips_exhausted_buckets_and_fills_budget() -> None:
    buckets = np.array([0] * 20 + [1] * 1 + [2] * 2)
    picked = uniform_bucket_sample(buckets, 10, np.random.default_rng(0))
    assert len(picked) == 10 and len(set(picked.tolist())) == 10
    assert np.bincount(buckets[picked]).tolist() == [7, 1, 2]


def test_uniform_sample_respects_exclude_and_caps_at_available() -> None:
    buckets = np.repeat(np.arange(4), 3)
    exclude = np.zeros(12, dtype=bool)
    exclude[[0, 1, 2, 5]] = True  # bucket 0 entirely, one of bucket 1
    picked = uniform_bucket_sample(buckets, 100, np.random.default_rng(0), exclude=exclude)
    assert sorted(picked.tolist()) == sorted(np.flatnonzero(~exclude).tolist())
    few = uniform_bucket_sample(buckets, 3, np.random.default_rng(0), exclude=exclude)
    assert not exclude[few].any() and sorted(buckets[few].tolist()) == [1, 2, 3]


def test_uniform_sample_zero_budget_and_determinism() -> None:
    buckets = np.repeat(np.arange(5), 4)
    assert len(uniform_bucket_sample(buckets, 0, np.random.default_rng(0))) == 0
    first = uniform_bucket_sample(buckets, 7, np.random.default_rng(9))
    np.testing.assert_array_equal(first, uniform_bucket_sample(buckets, 7, np.random.default_rng(9)))


def test_uniform_sample_is_uniform_within_buckets() -> None:
    buckets = np.array([0] * 4 + [1] * 4)
    hits = np.zeros(8)
    for seed in range(400):
        hits[uniform_bucket_sample(buckets, 2, np.random.default_rng(seed))] += 1
    assert np.all(np.abs(hits - 100) < 35)


def test_uniform_sample_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="budget"):
        uniform_bucket_sample(np.zeros(3, int), -1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="exclude"):
        uniform_bucket_sample(np.zeros(3, int), 1, np.random.default_rng(0), exclude=np.zeros(2, bool))


# --- dual criteria -----------------------------------------------------------------------------------

N = 100


def _evidence(with_buckets: bool = True, seed: int = 0) -> Evidence:
    """100 ids: 10 buckets of 10; max probabilities all distinct so the least-confident set is unique."""
    rng = np.random.default_rng(seed)
    top = rng.permutation(np.linspace(0.4, 0.99, N))
    probs = np.stack([top, 1 - top], axis=1)
    features: dict[str, np.ndarray] = {"pca": rng.normal(size=(N, 1))}
    if with_buckets:
        features["lsh_bucket"] = np.repeat(np.arange(10), 10)
    return Evidence(ids=_ids(N), probs=probs, features=features)


def _positions(evidence: Evidence, ids: np.ndarray) -> np.ndarray:
    lookup = {pool_id: i for i, pool_id in enumerate(evidence.ids.tolist())}
    return np.array([lookup[i] for i in ids.tolist()])


@pytest.mark.parametrize(
    ("gamma", "budget"), [(0.7, 20), (0.7, 15), (0.5, 5), (0.3, 7), (0.0, 20), (1.0, 20)]
)
def test_dual_criteria_split(gamma: float, budget: int) -> None:
    evidence = _evidence()
    selection = get_strategy("dual_criteria", gamma=gamma).select(evidence, budget, np.random.default_rng(0))
    picked = _positions(evidence, selection.ids)
    n_informative = informative_count(budget, gamma)
    assert n_informative == int(np.floor(gamma * budget + 0.5 + 1e-9))
    assert len(picked) == budget and len(set(picked.tolist())) == budget

    uncertainty = 1 - evidence.probs.max(axis=1)
    least_confident = np.argsort(-uncertainty)[:n_informative]
    assert set(picked[:n_informative].tolist()) == set(least_confident.tolist())
    np.testing.assert_allclose(selection.scores[:n_informative], uncertainty[picked[:n_informative]])

    representative = picked[n_informative:]
    assert not set(representative.tolist()) & set(least_confident.tolist())
    assert np.all(selection.scores[n_informative:] < 0)
    assert np.all(np.diff(selection.scores) <= 0) and np.all(np.isfinite(selection.scores))
    if len(representative):
        buckets = evidence.features["lsh_bucket"]
        counts = np.bincount(buckets[representative], minlength=10)
        # Round-robin: no bucket gets two more than another unless it ran out of unpicked members.
        remaining = np.bincount(np.delete(buckets, picked[:n_informative]), minlength=10)
        short = counts < counts.max() - 1
        assert np.all(counts[short] == remaining[short])


def test_dual_criteria_paper_split_of_twenty() -> None:
    evidence = _evidence()
    selection = get_strategy("dual_criteria").select(evidence, 20, np.random.default_rng(1))
    assert np.sum(selection.scores >= 0) == 14  # round(0.7 * 20)


def test_pca_lsh_spreads_two_per_bucket_and_ignores_probs() -> None:
    evidence = _evidence()
    evidence_no_probs = Evidence(ids=evidence.ids, features=evidence.features)
    strategy = get_strategy("pca_lsh")
    assert strategy.requires == frozenset({"features"})
    selection = strategy.select(evidence_no_probs, 20, np.random.default_rng(0))
    picked = _positions(evidence, selection.ids)
    np.testing.assert_array_equal(np.bincount(evidence.features["lsh_bucket"][picked]), np.full(10, 2))
    same = strategy.select(evidence, 20, np.random.default_rng(0))
    np.testing.assert_array_equal(same.ids, selection.ids)


def test_buckets_computed_from_pca_when_not_precomputed() -> None:
    evidence = _evidence(with_buckets=False)
    buckets = lsh_buckets(evidence.features["pca"], n_buckets=10, seed=LSH_SEED)
    selection = get_strategy("pca_lsh").select(evidence, 20, np.random.default_rng(0))
    counts = np.bincount(buckets[_positions(evidence, selection.ids)], minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 2))


def test_precomputed_buckets_take_precedence_over_pca() -> None:
    evidence = _evidence()
    evidence.features["lsh_bucket"] = np.repeat([0, 1], 50)
    selection = get_strategy("pca_lsh").select(evidence, 10, np.random.default_rng(0))
    picked = _positions(evidence, selection.ids)
    assert np.bincount(evidence.features["lsh_bucket"][picked]).tolist() == [5, 5]


def test_needs_pca_or_buckets() -> None:
    evidence = Evidence(ids=_ids(5), features={"other": np.zeros((5, 2))})
    with pytest.raises(ValueError, match="lsh_bucket"):
        get_strategy("pca_lsh").select(evidence, 2, np.random.default_rng(0))


def test_budget_beyond_pool_returns_all_once() -> None:
    evidence = _evidence()
    selection = get_strategy("dual_criteria").select(evidence, 500, np.random.default_rng(0))
    assert sorted(selection.ids.tolist()) == sorted(evidence.ids.tolist())
    assert np.sum(selection.scores >= 0) == 70


@pytest.mark.parametrize("gamma", [-0.1, 1.5, "0.7", float("nan")])
def test_gamma_validated(gamma: object) -> None:
    with pytest.raises(ConfigError, match="gamma"):
        get_strategy("dual_criteria", gamma=gamma)


@pytest.mark.parametrize("name", ["dual_criteria", "pca_lsh"])
def test_n_buckets_validated(name: str) -> None:
    with pytest.raises(ConfigError, match="n_buckets"):
        get_strategy(name, n_buckets=0)


@pytest.mark.parametrize("name", ["dual_criteria", "pca_lsh"])
@pytest.mark.parametrize("n_components", [0, 1.5, True])
def test_n_components_validated(name: str, n_components: object) -> None:
    with pytest.raises(ConfigError, match="n_components"):
        get_strategy(name, n_components=n_components)


def test_informative_count_rounds_half_up() -> None:
    assert informative_count(5, 0.5) == 3
    assert informative_count(15, 0.7) == 11
    assert informative_count(20, 0.7) == 14
    assert informative_count(1, 0.0) == 0 and informative_count(3, 1.0) == 3
