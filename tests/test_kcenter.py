"""The scalable greedy k-center picks exactly what a plain running-minimum loop picks.

The reference below is the textbook loop in float64 NumPy, O(N * budget): one running minimum, one
distance column per pick, ties to the lowest index, picked rows never picked again, and with no labelled
rows the first pick is the row farthest from the pool mean (lesionlab's documented rule).
"""

from __future__ import annotations

import numpy as np
import pytest

from lesionlab.selection.kcenter import covering_radius, k_center_greedy


def reference(pool: np.ndarray, budget: int, labeled: np.ndarray) -> tuple[list[int], np.ndarray]:
    x = pool.astype(np.float64)
    n = len(x)
    if len(labeled):
        lab = labeled.astype(np.float64)
        mind = np.array([((lab - row) ** 2).sum(1).min() for row in x])
    else:
        mind = np.full(n, np.inf)
    picks: list[int] = []
    for step in range(min(budget, n)):
        if step == 0 and not len(labeled):
            i = int(np.argmax(((x - x.mean(0)) ** 2).sum(1)))
        else:
            i = int(np.argmax(mind))
        picks.append(i)
        mind = np.minimum(mind, ((x - x[i]) ** 2).sum(1))
        mind[picks] = -1.0
    final = np.sqrt(np.clip(mind, 0, None))
    return picks, final


def gaussian(seed: int = 0, n: int = 600, d: int = 12, n_labeled: int = 10):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(8, d))
    pool = (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)
    return pool, rng.normal(size=(n_labeled, d)).astype(np.float32)


def integer_grid(seed: int = 0, n: int = 128, d: int = 3):
    """Small integers: every squared distance is exact in float32 and float64, so ties are real ties;
    n a power of two keeps the pool mean exact too. Many rows are duplicates."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 4, size=(n, d)).astype(np.float32)
    return pool, pool[:3].copy()


MODES = [
    {"prune": False},
    {"prune": False, "chunk_rows": 37},
    {"prune": True, "n_clusters": 9},
    {"prune": True, "n_clusters": 9, "chunk_rows": 37},
    {"prune": True, "n_clusters": 1},
    {"prune": True, "n_clusters": 40},
    {"prune": "pca", "bound_dims": 2},
    {"prune": "pca", "bound_dims": 1, "chunk_rows": 37},
    {"prune": "pca", "bound_dims": 8},
    {"prune": "lazy"},
    {"prune": "lazy", "chunk_rows": 37},
]
CASES = {
    "gaussian": lambda: (*gaussian(), 80),
    "gaussian_other_seed": lambda: (*gaussian(seed=3, n=900, d=20), 150),
    "ties_and_duplicates": lambda: (*integer_grid(), 60),
    "ties_empty_labeled": lambda: (integer_grid()[0], np.empty((0, 3), np.float32), 60),
    "gaussian_empty_labeled": lambda: (gaussian()[0], np.empty((0, 12), np.float32), 50),
    "budget_at_least_pool": lambda: (*integer_grid(seed=1, n=64), 100),
    "budget_is_pool": lambda: (*gaussian(n=64), 64),
    "labeled_duplicates_pool_rows": lambda: (gaussian()[0], gaussian()[0][::7].copy(), 40),
    "far_from_origin": lambda: (gaussian()[0] + 1000.0, gaussian()[1] + 1000.0, 60),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", MODES, ids=[str(m) for m in MODES])
def test_exact_mode_picks_what_the_reference_picks(case: str, mode: dict) -> None:
    pool, labeled, budget = CASES[case]()
    expected, final = reference(pool, budget, labeled)
    result = k_center_greedy(pool, budget, labeled, **mode)
    assert result.indices.tolist() == expected
    assert result.radius == pytest.approx(final.max(), rel=1e-4, abs=1e-4)
    np.testing.assert_allclose(result.min_distances, final, rtol=1e-4, atol=1e-3)


def test_budget_beyond_pool_returns_every_row_once() -> None:
    pool, labeled = integer_grid(n=32)
    result = k_center_greedy(pool, 1000, labeled)
    assert sorted(result.indices.tolist()) == list(range(32))
    assert result.radius == 0.0


def test_scores_are_the_min_distance_at_pick_time_and_never_increase() -> None:
    pool, labeled = gaussian()
    result = k_center_greedy(pool, 50, labeled)
    assert np.all(np.diff(result.scores) <= 0)
    # The first pick's score is its distance to the nearest labelled row.
    first = pool[result.indices[0]].astype(np.float64)
    assert result.scores[0] == pytest.approx(np.sqrt(((labeled - first) ** 2).sum(1)).min(), rel=1e-5)


def test_empty_labeled_first_pick_is_farthest_from_the_mean_and_its_score_finite() -> None:
    pool = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    result = k_center_greedy(pool, 4, None)
    assert result.indices[0] == 2
    assert np.all(np.isfinite(result.scores)) and np.all(np.diff(result.scores) <= 0)


def test_random_first_pick_follows_the_generator() -> None:
    pool, _ = gaussian()
    picks = {
        int(k_center_greedy(pool, 1, None, first="random", rng=np.random.default_rng(s)).indices[0])
        for s in range(10)
    }
    assert len(picks) > 1
    again = k_center_greedy(pool, 5, None, first="random", rng=np.random.default_rng(4)).indices
    np.testing.assert_array_equal(
        again, k_center_greedy(pool, 5, None, first="random", rng=np.random.default_rng(4)).indices
    )


def test_pruning_skips_work_on_clustered_data_with_the_same_picks() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=30.0, size=(40, 16))
    pool = (centres[rng.integers(0, 40, 4000)] + rng.normal(size=(4000, 16))).astype(np.float32)
    labeled = pool[:20] + 0.5
    plain = k_center_greedy(pool, 200, labeled, prune=False)
    pruned = k_center_greedy(pool, 200, labeled, prune=True)
    assert pruned.indices.tolist() == plain.indices.tolist()
    assert pruned.stats["rows_fraction"] < 0.5 < plain.stats["rows_fraction"]


def test_pca_bounds_skip_work_on_low_rank_data_with_the_same_picks() -> None:
    rng = np.random.default_rng(6)
    low_rank = rng.normal(size=(3000, 5)) @ rng.normal(size=(5, 300))
    pool = (low_rank + 0.01 * rng.normal(size=(3000, 300))).astype(np.float32)
    labeled = pool[:10] + 0.1
    plain = k_center_greedy(pool, 150, labeled, prune=False)
    bounded = k_center_greedy(pool, 150, labeled, prune="pca", bound_dims=16)
    assert bounded.indices.tolist() == plain.indices.tolist()
    assert bounded.stats["rows_computed"] < 0.5 * plain.stats["rows_computed"]


def test_lazy_updates_few_rows_per_pick_on_isotropic_data_with_the_same_picks() -> None:
    """Isotropic Gaussian rows: no bound separates them, yet lazy updates bring only the rows
    near the top up to date per pick, where the plain loop computes every row's distance to every pick."""
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(20_000, 256)).astype(np.float32)
    labeled = rng.normal(size=(20, 256)).astype(np.float32)
    auto = k_center_greedy(pool, 60, labeled, prune="lazy")
    plain = k_center_greedy(pool, 60, labeled, prune=False)
    assert auto.indices.tolist() == plain.indices.tolist()
    np.testing.assert_allclose(auto.min_distances, plain.min_distances, rtol=1e-5)
    assert auto.stats["rows_computed_picking"] < 0.15 * plain.stats["rows_computed"]


def test_auto_is_lazy_only_where_a_pass_over_the_pool_costs_more_than_its_bookkeeping() -> None:
    rng = np.random.default_rng(1)
    big = rng.normal(size=(8192, 1024)).astype(np.float32)  # 2^23 values, >= 128 features: lazy
    low_dim = rng.normal(size=(20_000, 64)).astype(np.float32)  # measured faster plain
    lazy = k_center_greedy(big, 5, big[:3] + 1.0, prune="auto")
    assert lazy.stats["lazy"] == 1
    plain = k_center_greedy(big, 5, big[:3] + 1.0, prune=False)
    assert lazy.indices.tolist() == plain.indices.tolist()
    assert "lazy" not in k_center_greedy(low_dim, 5, low_dim[:3], prune="auto").stats


def test_a_score_function_runs_the_plain_loop_even_where_auto_is_lazy() -> None:
    """A score reads all minima every pick: lazy updates would bring every row up to date per pick."""
    rng = np.random.default_rng(1)
    big = rng.normal(size=(8192, 1024)).astype(np.float32)
    scored = k_center_greedy(big, 5, big[:3] + 1.0, score=lambda d, a: d, prune="auto")
    assert "lazy" not in scored.stats
    assert scored.indices.tolist() == k_center_greedy(big, 5, big[:3] + 1.0, prune=False).indices.tolist()


def test_lazy_finds_the_farthest_row_when_a_pick_lowers_many_top_rows() -> None:
    """Far, tight clusters: each pick lowers a whole cluster of rows that were near the top, so the
    lazy search must widen (and fall back to updating every stale row) and still pick as the plain loop."""
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=100.0, size=(30, 8))
    sizes = rng.integers(1, 400, 30)
    pool = np.concatenate([c + 0.01 * rng.normal(size=(s, 8)) for c, s in zip(centres, sizes, strict=True)])
    pool = pool.astype(np.float32)[rng.permutation(sizes.sum())]
    plain = k_center_greedy(pool, 45, pool[:1] + 500.0, prune=False)
    auto = k_center_greedy(pool, 45, pool[:1] + 500.0, prune="lazy")
    assert auto.indices.tolist() == plain.indices.tolist()
    np.testing.assert_allclose(auto.min_distances, plain.min_distances, rtol=1e-4, atol=1e-4)


def test_score_function_sees_distances_and_availability() -> None:
    pool, labeled = gaussian()
    plain = k_center_greedy(pool, 30, labeled)
    same = k_center_greedy(pool, 30, labeled, score=lambda dist, available: dist)
    assert same.indices.tolist() == plain.indices.tolist()
    seen = []

    def lowest_index(dist: np.ndarray, available: np.ndarray) -> np.ndarray:
        seen.append((dist.copy(), available.copy()))
        return -np.arange(len(dist), dtype=float)

    result = k_center_greedy(pool, 5, labeled, score=lowest_index)
    assert result.indices.tolist() == [0, 1, 2, 3, 4]
    dist, available = seen[1]
    assert not available[0] and available[1:].all()
    assert dist[0] == 0.0  # a picked row is a centre
    ref_dist = np.sqrt(
        np.minimum(((pool[:, None] - labeled[None]) ** 2).sum(-1).min(1), ((pool - pool[0]) ** 2).sum(1))
    )
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("options", [{"precision": "float16"}, {"precision": "bfloat16"}, {"dims": 8}])
def test_approximate_modes_cover_nearly_as_well(options: dict) -> None:
    rng = np.random.default_rng(2)
    basis = rng.normal(size=(6, 64))
    pool = (rng.normal(size=(3000, 6)) @ basis + 0.05 * rng.normal(size=(3000, 64))).astype(np.float32)
    labeled = pool[:10]
    exact = k_center_greedy(pool, 100, labeled)
    approx = k_center_greedy(pool, 100, labeled, **options)
    assert len(set(approx.indices.tolist())) == 100
    radius = covering_radius(pool, np.concatenate([labeled, pool[approx.indices]]))
    assert radius <= 1.25 * exact.radius


def test_covering_radius_matches_brute_force() -> None:
    pool, labeled = gaussian()
    brute = np.sqrt(((pool[:, None].astype(float) - labeled[None]) ** 2).sum(-1).min(1)).max()
    assert covering_radius(pool, labeled, prune=False) == pytest.approx(brute, rel=1e-5)
    assert covering_radius(pool, labeled, prune=True) == pytest.approx(brute, rel=1e-5)


def test_rejects_bad_input() -> None:
    pool, labeled = gaussian()
    with pytest.raises(ValueError, match="features"):
        k_center_greedy(pool, 3, labeled[:, :5])
    with pytest.raises(ValueError, match="finite"):
        k_center_greedy(np.full((3, 2), np.nan), 1)
    with pytest.raises(ValueError, match="first"):
        k_center_greedy(pool, 1, first="nearest")
    with pytest.raises(ValueError, match="precision"):
        k_center_greedy(pool, 1, labeled, precision="int8")
    assert len(k_center_greedy(np.empty((0, 4)), 3).indices) == 0
