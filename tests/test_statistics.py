"""Significance tests for comparing strategies and for Shi et al. 2019's stopping rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lesionlab.evaluation.statistics import (
    compare_curves,
    delong_auc_test,
    mcnemar_exact,
    round_gain_significant,
)

SEEDS, ROUNDS = 5, 8


def curves(shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (seeds, rounds) curves sharing a rising trend and seed effects; b is shifted up by `shift`."""
    rng = np.random.default_rng(seed)
    trend = np.linspace(0.6, 0.85, ROUNDS)
    seed_effect = rng.normal(0, 0.02, size=(SEEDS, 1))
    a = trend + seed_effect + rng.normal(0, 0.01, size=(SEEDS, ROUNDS))
    b = trend + seed_effect + shift + rng.normal(0, 0.01, size=(SEEDS, ROUNDS))
    return a, b


# --- compare_curves ----------------------------------------------------------------------------------


def test_compare_curves_detects_consistently_better_curve() -> None:
    a, b = curves(shift=0.03, seed=0)
    result = compare_curves(b, a)
    assert result["n"] == SEEDS * ROUNDS
    assert result["mean_difference"] == pytest.approx(0.03, abs=0.01)
    assert result["p_wilcoxon"] < 1e-4
    assert result["p_ttest"] < 1e-4
    assert compare_curves(b, a, alternative="greater")["p_wilcoxon"] < 1e-4
    assert compare_curves(b, a, alternative="less")["p_wilcoxon"] > 0.99


def test_compare_curves_large_p_for_same_distribution() -> None:
    p_values = [compare_curves(*curves(shift=0.0, seed=s))["p_wilcoxon"] for s in range(20)]
    # Under the null p is uniform: most runs are far from significant, and never all small.
    assert np.median(p_values) > 0.2
    assert np.mean(np.array(p_values) < 0.05) <= 0.2


def test_compare_curves_identical_curves() -> None:
    a, _ = curves(shift=0.0, seed=1)
    result = compare_curves(a, a.copy())
    assert result["p_wilcoxon"] == 1.0
    assert result["p_ttest"] == 1.0
    assert result["mean_difference"] == 0.0


def test_compare_curves_constant_difference() -> None:
    a = np.full((3, 4), 0.7)
    result = compare_curves(a + 0.1, a)
    assert result["p_ttest"] == 0.0
    assert result["p_wilcoxon"] < 0.01


def test_compare_curves_per_seed_pairs_seeds() -> None:
    a, b = curves(shift=0.03, seed=0)
    result = compare_curves(b, a, pair_over="seeds")
    assert result["n"] == SEEDS
    # Five seeds all better: the exact two-sided Wilcoxon floor is 2 / 2**5.
    assert result["p_wilcoxon"] == pytest.approx(2 / 2**SEEDS)


def test_compare_curves_drops_nan_pairs() -> None:
    a, b = curves(shift=0.03, seed=0)
    a[0, 0] = np.nan
    assert compare_curves(b, a)["n"] == SEEDS * ROUNDS - 1


def test_compare_curves_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        compare_curves(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError):
        compare_curves(np.zeros(4), np.zeros(4))


# --- McNemar / stopping rule -------------------------------------------------------------------------


def correctness(n: int, acc_prev: float, acc_curr: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prev = rng.random(n) < acc_prev
    # The current model keeps most of what the previous one got right, plus fixes some errors.
    curr = np.where(prev, rng.random(n) < 0.97, rng.random(n) < (acc_curr - 0.97 * acc_prev) / (1 - acc_prev))
    return prev.astype(int), curr.astype(int)


def test_mcnemar_significant_for_clearly_better_model() -> None:
    prev, curr = correctness(600, 0.70, 0.85, seed=0)
    significant, p = round_gain_significant(prev, curr)
    assert significant
    assert p < 1e-6


def test_mcnemar_not_significant_for_equal_models() -> None:
    prev, curr = correctness(600, 0.80, 0.80 * 0.97 + 0.2 * 0.12, seed=1)
    significant, p = round_gain_significant(prev, curr)
    assert not significant
    assert p > 0.05


def test_mcnemar_identical_predictions() -> None:
    prev = np.array([1, 0, 1, 1, 0])
    assert round_gain_significant(prev, prev.copy()) == (False, 1.0)


def test_mcnemar_is_one_sided() -> None:
    prev, curr = correctness(600, 0.70, 0.85, seed=0)
    # The reverse direction (a worse model) is never a significant gain.
    significant, p = round_gain_significant(curr, prev)
    assert not significant
    assert p > 0.99


def test_mcnemar_exact_value() -> None:
    # 9 images fixed, 1 broken, 90 unchanged: P(X >= 9 | Binomial(10, 1/2)) = 11 / 1024.
    prev = np.array([0] * 9 + [1] + [1] * 90)
    curr = np.array([1] * 9 + [0] + [1] * 90)
    assert mcnemar_exact(prev, curr) == pytest.approx(11 / 1024)


def test_mcnemar_rejects_non_binary() -> None:
    with pytest.raises(ValueError, match="0/1"):
        round_gain_significant(np.array([0.2, 0.9]), np.array([1, 1]))
    with pytest.raises(ValueError, match="same images"):
        round_gain_significant(np.array([0, 1]), np.array([1, 1, 0]))


@pytest.mark.parametrize("test", ["wilcoxon", "ttest"])
def test_round_gain_per_seed_metrics(test: str) -> None:
    prev = np.array([0.70, 0.72, 0.69, 0.71, 0.70, 0.73, 0.68, 0.71])
    better = prev + np.array([0.03, 0.04, 0.02, 0.05, 0.03, 0.04, 0.03, 0.02])
    assert round_gain_significant(prev, better, test=test)[0]
    assert not round_gain_significant(better, prev, test=test)[0]


def test_round_gain_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="test"):
        round_gain_significant(np.array([0, 1]), np.array([1, 1]), test="chi2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        round_gain_significant(np.array([0, 1]), np.array([1, 1]), alpha=1.5)


# --- DeLong ------------------------------------------------------------------------------------------


def scored(n: int, separation: float, rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    return y * separation + rng.normal(size=n)


def test_delong_aucs_match_sklearn_and_detect_gain() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    p_prev = scored(400, 0.5, rng, y)
    p_curr = scored(400, 2.0, rng, y)
    result = delong_auc_test(y, p_prev, p_curr)
    assert result["auc_prev"] == pytest.approx(roc_auc_score(y, p_prev))
    assert result["auc_curr"] == pytest.approx(roc_auc_score(y, p_curr))
    assert result["p"] < 1e-6


def test_delong_not_significant_for_same_model() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.4).astype(int)
    p = scored(300, 1.0, rng, y)
    assert delong_auc_test(y, p, p.copy())["p"] == pytest.approx(0.5)  # z = 0 under a one-sided test
    noisy = p + rng.normal(0, 0.05, size=300)
    assert delong_auc_test(y, p, noisy, alternative="two-sided")["p"] > 0.05


@pytest.mark.slow
def test_delong_variance_matches_bootstrap() -> None:
    """The DeLong standard error of the AUC difference agrees with a paired bootstrap to ~20 %."""
    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.4).astype(int)
    # Successive models rank images alike: strongly correlated scores, as the covariance term assumes.
    p_prev = scored(300, 0.8, rng, y)
    p_curr = p_prev + 0.3 * y + rng.normal(0, 0.3, size=300)
    result = delong_auc_test(y, p_prev, p_curr)
    se_delong = (result["auc_curr"] - result["auc_prev"]) / result["z"]
    diffs = []
    for _ in range(300):
        idx = rng.integers(0, 300, size=300)
        if y[idx].min() == y[idx].max():
            continue
        diffs.append(roc_auc_score(y[idx], p_curr[idx]) - roc_auc_score(y[idx], p_prev[idx]))
    assert se_delong == pytest.approx(np.std(diffs), rel=0.2)


def test_delong_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="positive and"):
        delong_auc_test(np.array([1, 1, 1, 0]), np.zeros(4), np.ones(4))
