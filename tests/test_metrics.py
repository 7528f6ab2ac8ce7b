"""Metrics against hand-computed cases and scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from lesionlab.evaluation import (
    binary_metrics,
    bootstrap_ci,
    compute_metrics,
    mean_se,
    multiclass_metrics,
)


def test_binary_by_hand() -> None:
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    p = [0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.3, 0.5]
    # pred (p > 0.5): 1 1 0 1 0 0 0 0 -> TP 2, FN 1, FP 1, TN 4; 0.5 itself is negative (ISIC).
    m = binary_metrics(y, p)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(6 / 8)
    # Pairs (pos, neg) ranked correctly: 0.9 beats all 5, 0.6 beats 4, 0.4 beats 3 -> 12 / 15.
    assert m["auc"] == pytest.approx(12 / 15)
    # Ranked: .9(+) .7(-) .6(+) .5(-) .4(+): AP = (1/1 + 2/3 + 3/5) / 3.
    assert m["ap"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert set(m) == {"accuracy", "auc", "ap", "sensitivity", "specificity"}


def test_binary_threshold_and_single_class() -> None:
    assert binary_metrics([1, 0], [0.3, 0.2], threshold=0.25)["sensitivity"] == 1.0
    only_neg = binary_metrics([0, 0, 0], [0.1, 0.6, 0.2])
    assert math.isnan(only_neg["auc"]) and math.isnan(only_neg["ap"])
    assert math.isnan(only_neg["sensitivity"])
    assert only_neg["specificity"] == pytest.approx(2 / 3)
    only_pos = binary_metrics([1, 1], [0.9, 0.8])
    assert math.isnan(only_pos["auc"]) and math.isnan(only_pos["specificity"])


def test_binary_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        binary_metrics([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="nan"):
        binary_metrics([0, 1], [0.1, float("nan")])


def _multiclass_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.array([0] * 10 + [1] * 6 + [2] * 4)
    logits = rng.normal(size=(20, 4))
    logits[np.arange(20), y] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_multiclass_against_sklearn_and_by_hand() -> None:
    y, probs = _multiclass_case()
    names = ["mel", "nv", "bcc", "df"]  # df never occurs in y_true
    m = multiclass_metrics(y, probs, names)
    pred = probs.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(np.mean(pred == y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pred may contain the absent class
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    recalls = [np.mean(pred[y == c] == c) for c in range(3)]
    assert [m["per_class_recall"][n] for n in names[:3]] == pytest.approx(recalls)
    assert math.isnan(m["per_class_recall"]["df"])
    assert m["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    aucs = [roc_auc_score(y == c, probs[:, c]) for c in range(3)]
    assert m["macro_auc"] == pytest.approx(np.mean(aucs))
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == 20 and cm[3].sum() == 0
    assert np.array_equal(cm.sum(axis=1)[:3], [10, 6, 4])


def test_multiclass_macro_auc_matches_sklearn_ovr_when_all_present() -> None:
    y, probs = _multiclass_case()
    p3 = probs[:, :3] / probs[:, :3].sum(axis=1, keepdims=True)
    m = multiclass_metrics(y, p3, ["a", "b", "c"])
    assert m["macro_auc"] == pytest.approx(roc_auc_score(y, p3, multi_class="ovr", average="macro"))


def test_multiclass_single_class_has_nan_auc() -> None:
    m = multiclass_metrics([1, 1], [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], ["a", "b", "c"])
    assert math.isnan(m["macro_auc"])
    assert m["balanced_accuracy"] == pytest.approx(0.5)


def test_compute_metrics_dispatch() -> None:
    probs2 = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    assert compute_metrics([1, 0, 0], probs2, ["benign", "malignant"]) == binary_metrics(
        [1, 0, 0], probs2[:, 1]
    )
    y, probs = _multiclass_case()
    assert "balanced_accuracy" in compute_metrics(y, probs, list("abcd"))
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(y, probs, list("abc"))


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(size=n))))
    return y, score


@pytest.mark.slow
def test_bootstrap_ci_contains_estimate_and_narrows() -> None:
    y_small, p_small = _separable(60, 0)
    y_big, p_big = _separable(1500, 0)
    lo_s, hi_s = bootstrap_ci(y_small, p_small, roc_auc_score, n_boot=300)
    lo_b, hi_b = bootstrap_ci(y_big, p_big, roc_auc_score, n_boot=300)
    assert lo_s <= roc_auc_score(y_small, p_small) <= hi_s
    assert lo_b <= roc_auc_score(y_big, p_big) <= hi_b
    assert hi_b - lo_b < (hi_s - lo_s) / 2
    assert bootstrap_ci(y_small, p_small, roc_auc_score, n_boot=300) == (lo_s, hi_s)


def test_bootstrap_stratified_keeps_auc_defined_with_rare_class() -> None:
    y = np.array([1] + [0] * 29)
    p = np.linspace(0.0, 1.0, 30)[::-1]
    lo, hi = bootstrap_ci(y, p, roc_auc_score, n_boot=200)
    assert (lo, hi) == pytest.approx((1.0, 1.0))
    # Unstratified resamples often miss the positive; those are dropped rather than crashing.
    lo_u, hi_u = bootstrap_ci(y, p, roc_auc_score, n_boot=200, stratified=False)
    assert (lo_u, hi_u) == pytest.approx((1.0, 1.0))


def test_bootstrap_on_2d_probs() -> None:
    y, probs = _multiclass_case()
    lo, hi = bootstrap_ci(y, probs, lambda yy, pp: float(np.mean(pp.argmax(1) == yy)), n_boot=200)
    assert 0.0 <= lo <= np.mean(probs.argmax(1) == y) <= hi <= 1.0


def test_mean_se() -> None:
    r = mean_se([0.7, 0.8, 0.9, float("nan")])
    assert r["mean"] == pytest.approx(0.8)
    assert r["se"] == pytest.approx(0.1 / math.sqrt(3))
    assert (r["n"], r["n_nan"]) == (3, 1)
    assert mean_se([0.5]) == {"mean": 0.5, "se": 0.0, "n": 1, "n_nan": 0}
    empty = mean_se([float("nan")])
    assert math.isnan(empty["mean"]) and math.isnan(empty["se"]) and empty["n_nan"] == 1
