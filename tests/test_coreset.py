"""Core-set and Kim et al. 2020's confident coreset family on hand-made arrays.

The shared template in test_strategies.py runs every registered strategy; here each criterion is checked
against what the paper says it does (Eq. 1-2, Algorithm 1 / Eq. 5, Eq. 6, rank fusion, sequential).
"""

from __future__ import annotations

import numpy as np
import pytest

from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, get_strategy
from lesionlab.selection.coreset import ALPHA_CLASSIFICATION, ALPHA_SEGMENTATION, minmax
from lesionlab.selection.kcenter import k_center_greedy

CONFIDENT = [
    "confident_coreset",
    "confident_coreset_sum",
    "confident_coreset_rank",
    "confident_coreset_sequential",
]


def make_evidence(seed: int = 0, n: int = 120, d: int = 6, n_labeled: int = 8, loss=None) -> Evidence:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(5, d))
    pool = centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d))
    return Evidence(
        ids=np.array([f"img_{i:03d}" for i in range(n)]),
        embeddings=pool,
        labeled_embeddings=rng.normal(size=(n_labeled, d)),
        predicted_loss=rng.gamma(2.0, size=n) if loss is None else loss,
    )


def rows(evidence: Evidence, ids: np.ndarray) -> list[int]:
    return [int(i.split("_")[1]) for i in ids]


def pick(name: str, evidence: Evidence, budget: int, seed: int = 0, **params) -> list[int]:
    selection = get_strategy(name, **params).select(evidence, budget, np.random.default_rng(seed))
    return rows(evidence, selection.ids)


def algorithm1(pool, labeled, loss, budget, combine) -> list[int]:
    """Algorithm 1 in plain NumPy: min-max normalisation over the rows still available, every pick."""
    x = pool.astype(np.float64)
    mind = np.array([np.sqrt(((labeled - r) ** 2).sum(1)).min() for r in x])
    available = np.ones(len(x), bool)
    picks = []
    for _ in range(budget):
        score = combine(minmax(mind, available), minmax(loss, available))
        score[~available] = -np.inf
        i = int(np.argmax(score))
        picks.append(i)
        available[i] = False
        mind = np.minimum(mind, np.sqrt(((x - x[i]) ** 2).sum(1)))
    return picks


# --- coreset -----------------------------------------------------------------------------------------


def test_coreset_is_greedy_k_center_on_the_embeddings() -> None:
    evidence = make_evidence()
    expected = k_center_greedy(evidence.embeddings, 15, evidence.labeled_embeddings)
    selection = get_strategy("coreset").select(evidence, 15, np.random.default_rng(0))
    assert rows(evidence, selection.ids) == expected.indices.tolist()
    np.testing.assert_allclose(selection.scores, expected.scores)


def test_coreset_picks_the_far_cluster_first_then_spreads() -> None:
    # Labelled points sit at the origin; two pool groups, the one at x=10 is farther.
    pool = np.array([[1.0, 0], [1.1, 0], [10.0, 0], [10.2, 0], [5.0, 0]])
    evidence = Evidence(
        ids=np.array([f"img_{i:03d}" for i in range(5)]),
        embeddings=pool,
        labeled_embeddings=np.zeros((1, 2)),
    )
    assert pick("coreset", evidence, 2) == [3, 4]
    scores = get_strategy("coreset").select(evidence, 2, np.random.default_rng(0)).scores
    np.testing.assert_allclose(scores, [10.2, 5.0], rtol=1e-6)


def test_coreset_without_labelled_rows_starts_farthest_from_the_mean() -> None:
    evidence = make_evidence(n_labeled=0).replace(labeled_embeddings=np.empty((0, 6)))
    first = pick("coreset", evidence, 1)[0]
    pool = evidence.embeddings
    assert first == int(np.argmax(((pool - pool.mean(0)) ** 2).sum(1)))


# --- confident coreset (Algorithm 1, Eq. 5) ----------------------------------------------------------


def test_alpha_one_is_coreset_and_alpha_zero_is_top_predicted_loss() -> None:
    evidence = make_evidence()
    assert pick("confident_coreset", evidence, 20, alpha=1.0) == pick("coreset", evidence, 20)
    top_loss = np.argsort(-evidence.predicted_loss)[:20].tolist()
    assert (
        pick("confident_coreset", evidence, 20, alpha=0.0) == top_loss == pick("learning_loss", evidence, 20)
    )


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_confident_coreset_follows_algorithm_1(alpha: float) -> None:
    evidence = make_evidence(seed=2)
    expected = algorithm1(
        evidence.embeddings,
        evidence.labeled_embeddings,
        evidence.predicted_loss,
        25,
        lambda d, loss: d**alpha * loss ** (1 - alpha),
    )
    assert pick("confident_coreset", evidence, 25, alpha=alpha) == expected


def test_confident_coreset_trades_distance_for_loss() -> None:
    # Row 0 is the farthest from the labelled set but the model is sure of it; row 1 is a little closer
    # and has by far the highest predicted loss; row 2 is close and easy.
    pool = np.array([[10.0, 0.0], [9.0, 0.0], [1.0, 0.0]])
    evidence = Evidence(
        ids=np.array(["img_000", "img_001", "img_002"]),
        embeddings=pool,
        labeled_embeddings=np.zeros((1, 2)),
        predicted_loss=np.array([0.1, 3.0, 0.0]),
    )
    assert pick("coreset", evidence, 1) == [0]
    assert pick("confident_coreset", evidence, 1) == [1]  # alpha 0.25
    assert pick("confident_coreset", evidence, 1, alpha=1.0) == [0]


def test_alpha_defaults_and_documented_values() -> None:
    assert ALPHA_CLASSIFICATION == 0.25 and ALPHA_SEGMENTATION == 0.5
    strategy = get_strategy("confident_coreset")
    assert strategy.alpha == 0.25
    documented = [p["alpha"] for p in strategy.documented_params]
    assert documented == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "0.3", True])
def test_alpha_out_of_range_is_refused(alpha) -> None:
    with pytest.raises((ValueError, ConfigError), match="alpha"):
        get_strategy("confident_coreset", alpha=alpha)


# --- ablations ---------------------------------------------------------------------------------------


def test_sum_follows_eq_6() -> None:
    evidence = make_evidence(seed=4)
    expected = algorithm1(
        evidence.embeddings,
        evidence.labeled_embeddings,
        evidence.predicted_loss,
        25,
        lambda d, loss: d + loss,
    )
    assert pick("confident_coreset_sum", evidence, 25) == expected


def test_sum_differs_from_product_where_one_criterion_is_zero() -> None:
    # Row 0: farthest, lowest loss (normalised loss 0): the product scores it 0, the sum 1.
    pool = np.array([[10.0, 0.0], [6.0, 0.0], [4.0, 0.0]])
    evidence = Evidence(
        ids=np.array(["img_000", "img_001", "img_002"]),
        embeddings=pool,
        labeled_embeddings=np.zeros((1, 2)),
        predicted_loss=np.array([0.0, 0.5, 1.0]),
    )
    assert pick("confident_coreset_sum", evidence, 1) == [0]  # 1 + 0 beats 0.33 + 0.5 and 0 + 1 (first)
    assert pick("confident_coreset", evidence, 1, alpha=0.5) == [1]  # sqrt(1/3 * 1/2) beats 0 and 0


def test_rank_fusion_averages_the_two_rankings() -> None:
    # Core-set order: 3 (farthest), then 0 (its distance 8 is the largest left), then by min distance.
    pool = np.array([[-8.0, 0.0], [2.0, 0.0], [3.0, 0.0], [10.0, 0.0], [2.5, 0.0]])
    loss = np.array([0.0, 5.0, 4.0, 1.0, 3.0])  # loss order: 1, 2, 4, 3, 0
    evidence = Evidence(
        ids=np.array([f"img_{i:03d}" for i in range(5)]),
        embeddings=pool,
        labeled_embeddings=np.zeros((1, 2)),
        predicted_loss=loss,
    )
    # Budget 2: the rest by min distance to {origin, 10, -8}: 2 (3.0), 4 (2.5), 1 (2.0), so core-set ranks
    # 3:0, 0:1, 2:2, 4:3, 1:4; loss ranks 1:0, 2:1, 4:2, 3:3, 0:4; mean ranks 3:1.5, 2:1.5, 1:2, 0:2.5, 4:2.5.
    selection = get_strategy("confident_coreset_rank").select(evidence, 2, np.random.default_rng(0))
    assert sorted(rows(evidence, selection.ids)) == [2, 3]
    np.testing.assert_allclose(selection.scores, [-1.5, -1.5])
    # Budget 5: the core-set ranking is the full greedy order 3, 0, 2, 1, 4, so row 1 ties the leaders.
    selection = get_strategy("confident_coreset_rank").select(evidence, 5, np.random.default_rng(0))
    assert sorted(rows(evidence, selection.ids)[:3]) == [1, 2, 3]
    np.testing.assert_allclose(selection.scores, [-1.5, -1.5, -1.5, -2.5, -3.0])


def test_sequential_takes_half_by_loss_then_k_center_around_them() -> None:
    evidence = make_evidence(seed=6)
    budget = 9
    picks = pick("confident_coreset_sequential", evidence, budget)
    by_loss = np.argsort(-evidence.predicted_loss)[:5].tolist()  # ceil(9 / 2), uncertainty first
    assert picks[:5] == by_loss
    rest = np.setdiff1d(np.arange(len(evidence.ids)), by_loss)
    centres = np.concatenate([evidence.labeled_embeddings, evidence.embeddings[by_loss]])
    greedy = k_center_greedy(evidence.embeddings[rest], 4, centres)
    assert picks[5:] == rest[greedy.indices].tolist()


@pytest.mark.parametrize("name", CONFIDENT)
def test_confident_variants_rank_by_order_of_choice(name: str) -> None:
    selection = get_strategy(name).select(make_evidence(), 10, np.random.default_rng(0))
    assert np.all(np.diff(selection.scores) < 0) or name == "confident_coreset_rank"
    assert len(set(selection.ids.tolist())) == 10


@pytest.mark.parametrize("name", CONFIDENT)
def test_confident_variants_refuse_a_bad_predicted_loss(name: str) -> None:
    evidence = make_evidence()
    bad = evidence.replace(predicted_loss=np.full(len(evidence.ids), np.nan))
    with pytest.raises(ValueError, match="predicted_loss"):
        get_strategy(name).select(bad, 3, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["coreset", *CONFIDENT])
def test_float64_and_float32_embeddings_pick_the_same(name: str) -> None:
    evidence = make_evidence(seed=8)
    as32 = evidence.replace(
        embeddings=evidence.embeddings.astype(np.float32),
        labeled_embeddings=evidence.labeled_embeddings.astype(np.float32),
    )
    assert pick(name, evidence, 12) == pick(name, as32, 12)


def test_mismatched_embedding_widths_are_refused() -> None:
    evidence = make_evidence()
    with pytest.raises(ValueError, match="labeled_embeddings"):
        get_strategy("coreset").select(
            evidence.replace(labeled_embeddings=np.zeros((3, 2))), 3, np.random.default_rng(0)
        )
