"""ACFT's criteria (Zhou et al. 2021): Table 1's seven patterns, majority selection, Eq. 4's randomisation and
the strategies of Table 4's columns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chisquare, entropy

from lesionlab.selection.acft import (
    EPS,
    acft_scores,
    majority_patches,
    n_majority,
    patch_diversity,
    patch_entropy,
    randomized_pick,
    sampling_probabilities,
)
from lesionlab.selection.base import Evidence, get_strategy

# Table 1's patterns: P(class 1) of a candidate's 11 patches. The text extraction lost cells of A, F
# and G (A lists three 0.6 and five 0.5, F three 0.0 and three 0.1, G mirrors F); these lists are the
# ones for which all four printed values of every pattern come out, and any other reading of the
# extracted columns misses at least one of them (e.g. the extraction's A gives entropy 7.50, not 7.52).
TABLE1 = {
    "A": [0.4, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.6],
    "B": [0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.6, 0.7, 0.8, 1.0, 1.0],
    "C": [0.0, 0.0, 0.0, 0.1, 0.1, 0.9, 0.9, 1.0, 1.0, 1.0, 1.0],
    "D": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1],
    "E": [0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    "F": [0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.3, 0.9, 1.0],
    "G": [0.0, 0.1, 0.7, 0.8, 0.8, 0.9, 0.9, 0.9, 0.9, 1.0, 1.0],
}
# Rows entropy, entropy^alpha, diversity, diversity^alpha as printed.
PRINTED = {
    "A": (7.52, 2.02, 4.38, 0.00),
    "B": (4.57, 0.83, 1237.21, 20.79),
    "C": (1.30, 0.00, 2816.66, 0.00),
    "D": (1.30, 0.00, 189.54, 0.00),
    "E": (1.30, 0.00, 189.54, 0.00),
    "F": (3.24, 0.33, 1076.87, 13.54),
    "G": (3.24, 0.33, 1076.87, 13.54),
}


def binary(p: list[float]) -> np.ndarray:
    """(1, m, 2) patch probabilities of one candidate from its P(class 1)."""
    q = np.asarray(p)
    return np.stack([1 - q, q], axis=1)[None]


@pytest.mark.parametrize("pattern", sorted(TABLE1))
def test_table1_values(pattern: str) -> None:
    """The printed numbers are Eq. 1 without its 1/m (a sum over the patches) and with the diversity
    summed over all ordered pairs (twice the l >= j sum), with 0 read as float64's epsilon."""
    probs = binary(TABLE1[pattern])
    kept = majority_patches(probs, alpha=0.25)
    assert kept.shape == (1, 3, 2)  # "computed based on 3 patches within each candidate"
    got = (
        11 * patch_entropy(probs)[0],
        3 * patch_entropy(kept)[0],
        2 * patch_diversity(probs)[0],
        2 * patch_diversity(kept)[0],
    )
    np.testing.assert_allclose(got, PRINTED[pattern], atol=0.005 + 1e-9)


def test_table1_preferences() -> None:
    """Sec. 3.1 / 5.5: entropy (with or without majority) prefers A, diversity C, diversity^alpha B."""
    names = sorted(TABLE1)
    probs = np.concatenate([binary(TABLE1[n]) for n in names])

    def best(**kw: object) -> str:
        return names[int(np.argmax(acft_scores(probs, **kw)))]

    assert best(lambda1=1, lambda2=0, majority=False) == "A"
    assert best(lambda1=1, lambda2=0, majority=True) == "A"
    assert best(lambda1=0, lambda2=1, majority=False) == "C"
    assert best(lambda1=0, lambda2=1, majority=True) == "B"


def test_entropy_matches_scipy_and_diversity_matches_pairwise_loop() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(6, 5))
    np.testing.assert_allclose(patch_entropy(probs), entropy(probs, axis=2).mean(axis=1))
    for i in range(len(probs)):
        loop = sum(
            (probs[i, j, k] - probs[i, l, k]) * np.log(probs[i, j, k] / probs[i, l, k])
            for k in range(4)
            for j in range(5)
            for l in range(j, 5)  # noqa: E741 (the paper's index)
        )
        assert patch_diversity(probs[i : i + 1])[0] == pytest.approx(loop)


def test_diversity_is_the_sum_of_pairwise_jeffreys_divergences_from_scipy() -> None:
    """(P_j - P_l) log(P_j / P_l) summed over classes is KL(P_j || P_l) + KL(P_l || P_j)."""
    probs = np.random.default_rng(3).dirichlet(np.ones(3), size=(1, 6))
    jeffreys = sum(
        entropy(probs[0, j], probs[0, l]) + entropy(probs[0, l], probs[0, j])
        for j in range(6)
        for l in range(j + 1, 6)  # noqa: E741
    )
    assert patch_diversity(probs)[0] == pytest.approx(jeffreys)


def test_zero_probabilities_are_safe() -> None:
    one_hot = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
    assert np.all(np.isfinite(patch_entropy(one_hot))) and patch_entropy(one_hot)[0] == 0.0
    d = patch_diversity(one_hot)
    assert d[0] == 0.0
    assert d[1] == pytest.approx(-2 * np.log(EPS))  # both classes disagree fully


def test_majority_keeps_the_dominant_class_patches_and_ties_go_to_the_lower_class() -> None:
    # Mean of class 1 is 0.7: the dominant class is 1, and the 3 highest P(class 1) are kept, best first.
    probs = binary([0.2, 0.9, 0.95, 0.6, 0.8, 0.75, 0.7, 0.7, 0.8, 0.6, 0.7])
    np.testing.assert_allclose(majority_patches(probs)[0, :, 1], [0.95, 0.9, 0.8])
    # Mean exactly 0.5 (pattern B): class 0 wins, so its most confident patches are P(1) = 0.0, 0.1, 0.2.
    np.testing.assert_allclose(majority_patches(binary(TABLE1["B"]))[0, :, 1], [0.0, 0.1, 0.2])


@pytest.mark.parametrize(
    ("m", "alpha", "k"), [(11, 0.25, 3), (24, 0.25, 6), (21, 0.25, 6), (4, 0.25, 1), (5, 1.0, 5)]
)
def test_majority_size(m: int, alpha: float, k: int) -> None:
    assert n_majority(m, alpha) == k


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_bad_alpha(bad: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        n_majority(10, bad)


@pytest.mark.parametrize(
    "probs",
    [np.zeros((3, 4)), np.full((2, 3, 2), 0.7), np.array([[[np.nan, 1.0]]]), np.array([[[1.0]]])],
)
def test_rejects_what_is_not_patch_probabilities(probs: np.ndarray) -> None:
    with pytest.raises(ValueError, match="patch_probs"):
        patch_entropy(probs)


def test_sampling_probabilities_eq4() -> None:
    p = sampling_probabilities(np.array([5.0, 3.0, 2.0, 1.0]))
    np.testing.assert_allclose(p, np.array([4.0, 2.0, 1.0, 0.0]) / 7.0)
    np.testing.assert_allclose(sampling_probabilities(np.full(4, 2.0)), 0.25)
    with pytest.raises(ValueError, match="descending"):
        sampling_probabilities(np.array([1.0, 2.0]))


def test_randomized_pick_draws_with_eq4_probabilities() -> None:
    """b = 1, omega = 5: only the top 5 can be drawn, each as often as Eq. 4 says."""
    scores = np.array([0.1, 9.0, 0.5, 7.0, 4.0, 8.0, 2.0, 0.0])  # top 5: 9, 8, 7, 4, 2
    expected = np.array([7.0, 6.0, 5.0, 2.0, 0.0]) / 20.0
    top5 = [1, 5, 3, 4, 6]
    draws = [randomized_pick(scores, 1, 5, np.random.default_rng(s))[0] for s in range(4000)]
    counts = np.array([draws.count(i) for i in top5])
    assert counts.sum() == 4000 and counts[-1] == 0  # the (omega b)-th is never drawn
    assert chisquare(counts[:-1], 4000 * expected[:-1]).pvalue > 0.001


def test_randomized_pick_is_seeded_unique_and_ranked() -> None:
    scores = np.random.default_rng(1).random(100)
    a = randomized_pick(scores, 10, 5, np.random.default_rng(3))
    b = randomized_pick(scores, 10, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 10
    assert np.all(np.diff(scores[a]) <= 0)
    assert set(a.tolist()) <= set(np.argsort(-scores)[:50].tolist())
    picks = {
        tuple(sorted(randomized_pick(scores, 10, 5, np.random.default_rng(s)).tolist())) for s in range(5)
    }
    assert len(picks) > 1  # not simply the top 10


def test_randomized_pick_whole_pool_and_ties() -> None:
    scores = np.array([3.0, 1.0, 1.0, 1.0])
    assert sorted(randomized_pick(scores, 4, 5, np.random.default_rng(0)).tolist()) == [0, 1, 2, 3]
    # Only one score above the bottom of the extended pool: it comes first, the rest in score order.
    picked = randomized_pick(scores, 2, 5, np.random.default_rng(0))
    assert picked[0] == 0 and len(set(picked.tolist())) == 2


def evidence_from(patterns: dict[str, list[float]]) -> Evidence:
    names = sorted(patterns)
    return Evidence(ids=np.array(names), patch_probs=np.concatenate([binary(patterns[n]) for n in names]))


@pytest.mark.parametrize(
    ("name", "first"),
    [("acft_entropy", "A"), ("acft_diversity", "B"), ("aift", "C")],
)
def test_strategies_without_randomness_pick_the_papers_pattern(name: str, first: str) -> None:
    strategy = get_strategy(name, randomness=False) if name != "aift" else get_strategy(name)
    assert strategy.select(evidence_from(TABLE1), 1, np.random.default_rng(0)).ids[0] == first


def test_table4_switches() -> None:
    for name, (majority, randomness) in itertools.product(
        ["acft_entropy", "acft_diversity", "acft_entropy_diversity"],
        itertools.product([False, True], repeat=2),
    ):
        s = get_strategy(name, majority=majority, randomness=randomness)
        assert (s.majority, s.randomness) == (majority, randomness)
        assert s.evidence_options() == {"patch_probs": {"patches": 24}}
    aift = get_strategy("aift")
    assert (aift.majority, aift.randomness, aift.lambda1, aift.lambda2) == (False, False, 1.0, 1.0)
    assert (get_strategy("acft_entropy").lambda1, get_strategy("acft_entropy").lambda2) == (1.0, 0.0)


def test_randomness_spreads_picks_over_the_extended_pool() -> None:
    rng = np.random.default_rng(0)
    ev = Evidence(ids=np.array([f"c{i}" for i in range(60)]), patch_probs=rng.dirichlet([1, 1], size=(60, 8)))
    s = get_strategy("acft_entropy")
    scores = s.scores(ev)
    top25 = set(ev.ids[np.argsort(-scores)[:25]].tolist())
    seen = set()
    for seed in range(20):
        picked = s.select(ev, 5, np.random.default_rng(seed)).ids.tolist()
        assert set(picked) <= top25
        seen |= set(picked)
    assert len(seen) > 5


@pytest.mark.parametrize(
    "params", [{"omega": 0.5}, {"alpha": 0}, {"patches": 0}, {"lambda1": 0, "lambda2": 0}]
)
def test_bad_parameters(params: dict) -> None:
    with pytest.raises(Exception, match=r"omega|alpha|patches|lambda"):
        get_strategy("acft_entropy", **params)
