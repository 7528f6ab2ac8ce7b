"""Vectorised bootstrap intervals: the same intervals as the per-resample path, far fewer metric calls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from lesionlab.evaluation import bootstrap
from lesionlab.evaluation.bootstrap import _ap_rows, _auc_rows, metric_intervals, resample_indices
from lesionlab.evaluation.metrics import bootstrap_ci, compute_metrics


def _old_path(y: np.ndarray, probs: np.ndarray, classes: list[str], n_boot: int, seed: int) -> dict:
    """What `lesionlab evaluate` did before: `bootstrap_ci` over `compute_metrics` for every metric."""
    names = [k for k, v in compute_metrics(y, probs, classes).items() if isinstance(v, float)]
    return {
        name: bootstrap_ci(
            y, probs, lambda yy, pp, k=name: compute_metrics(yy, pp, classes)[k], n_boot=n_boot, seed=seed
        )
        for name in names
    }


def _binary_case(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p1 = np.round(1 / (1 + np.exp(-(1.2 * (2 * y - 1) + rng.normal(size=n)))), 1)  # rounded: many ties
    p1[:3] = 0.5  # exactly at the threshold: negative, as ISIC scores it
    return y, np.stack([1 - p1, p1], axis=1)


def _multiclass_case(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])  # class 3 of 4 never occurs
    logits = np.round(rng.normal(size=(n, 4)), 1)
    logits[np.arange(n), y] += 1.0
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 7])
def test_binary_intervals_equal_the_per_resample_path(seed: int) -> None:
    y, probs = _binary_case(seed=seed)
    classes = ["benign", "melanoma"]
    new = metric_intervals(y, probs, classes, n_boot=300, seed=seed)
    old = _old_path(y, probs, classes, 300, seed)
    assert set(new) == set(old) and len(new) == 5
    for name in old:
        np.testing.assert_allclose(new[name], old[name], rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_multiclass_intervals_equal_the_per_resample_path() -> None:
    y, probs = _multiclass_case()
    classes = ["mel", "nv", "bcc", "df"]
    new = metric_intervals(y, probs, classes, n_boot=300, seed=1)
    old = _old_path(y, probs, classes, 300, 1)
    assert set(new) == set(old) == {"accuracy", "balanced_accuracy", "macro_auc"}
    for name in old:
        np.testing.assert_allclose(new[name], old[name], rtol=0, atol=1e-12, err_msg=name)


def test_single_class_gives_nan_intervals_where_undefined() -> None:
    y = np.zeros(10, dtype=int)
    probs = np.tile([0.7, 0.3], (10, 1))
    out = metric_intervals(y, probs, ["a", "b"], n_boot=50)
    assert all(math.isnan(v) for v in out["auc"] + out["ap"] + out["sensitivity"])
    assert out["specificity"] == (1.0, 1.0)


def test_rank_auc_and_ap_match_sklearn_row_by_row() -> None:
    rng = np.random.default_rng(3)
    positive = rng.random((50, 30)) < 0.3
    positive[:, 0], positive[:, 1] = True, False
    scores = np.round(rng.random((50, 30)), 1)  # ties
    auc, ap = _auc_rows(positive, scores), _ap_rows(positive, scores)
    for b in range(50):
        assert auc[b] == pytest.approx(roc_auc_score(positive[b], scores[b]), abs=1e-12)
        assert ap[b] == pytest.approx(average_precision_score(positive[b], scores[b]), abs=1e-12)


def test_resamples_are_drawn_once_and_chunks_do_not_change_them() -> None:
    y = np.array([0] * 7 + [1] * 3)
    whole = next(resample_indices(y, 25, seed=2))
    chunked = np.concatenate(list(resample_indices(y, 25, seed=2, chunk=4)))
    assert whole.shape == (25, 10) and np.array_equal(whole, chunked)
    assert np.all(y[whole].sum(axis=1) == 3)  # stratified: the class mix never changes


def test_metrics_are_computed_once_not_per_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return compute_metrics(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "compute_metrics", counting)
    y, probs = _binary_case()
    metric_intervals(y, probs, ["benign", "melanoma"], n_boot=1000)
    assert len(calls) == 1  # the point estimate, to know the names; 5 x 1000 calls before


def test_a_metric_without_a_vectorised_form_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def with_extra(y, probs, classes):
        return compute_metrics(y, probs, classes) | {"mean_prob": float(np.mean(probs[:, 1]))}

    monkeypatch.setattr(bootstrap, "compute_metrics", with_extra)
    y, probs = _binary_case()
    out = metric_intervals(y, probs, ["benign", "melanoma"], n_boot=100)
    expected = bootstrap_ci(y, probs, lambda yy, pp: float(np.mean(pp[:, 1])), n_boot=100)
    assert out["mean_prob"] == pytest.approx(expected)


def test_rejects_no_resamples() -> None:
    y, probs = _binary_case()
    with pytest.raises(ValueError, match="n_boot >= 1"):
        metric_intervals(y, probs, ["a", "b"], n_boot=0)
