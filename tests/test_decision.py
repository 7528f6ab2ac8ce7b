"""Post-hoc logit adjustment: identity at tau 0, softmax(log p - tau log pi), favours rare classes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from lesionlab.evaluation.decision import prior_adjusted


def _probs(n: int = 50, c: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(c), size=n)


def test_tau_zero_and_a_uniform_prior_change_nothing() -> None:
    p = _probs()
    np.testing.assert_allclose(prior_adjusted(p, [5, 1, 2, 9], 0.0), p, atol=1e-12)
    np.testing.assert_allclose(prior_adjusted(p, [7, 7, 7, 7], 1.0), p, atol=1e-12)


def test_matches_scipy_softmax_of_adjusted_log_probabilities() -> None:
    p, counts, tau = _probs(), np.array([70.0, 10.0, 15.0, 5.0]), 0.6
    expected = softmax(np.log(p) - tau * np.log(counts / counts.sum()), axis=1)
    np.testing.assert_allclose(prior_adjusted(p, counts, tau), expected, atol=1e-12)


def test_decisions_move_towards_rare_classes_as_tau_grows() -> None:
    p, counts = _probs(400), [900, 50, 30, 20]
    rare = [(prior_adjusted(p, counts, t).argmax(1) != 0).mean() for t in (0.0, 0.5, 1.0)]
    assert rare[0] < rare[1] < rare[2]


def test_empty_class_and_bad_input() -> None:
    out = prior_adjusted(_probs(), [10, 0, 5, 5], 1.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(1), 1.0)
    with pytest.raises(ValueError, match="tau"):
        prior_adjusted(_probs(), [1, 1, 1, 1], -0.1)
    with pytest.raises(ValueError, match="class_counts"):
        prior_adjusted(_probs(), [1, 1, 1], 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        prior_adjusted(_probs(), [1, -1, 1, 1], 0.5)


def test_score_rules_averages_the_first_k_views_and_orders_rows() -> None:
    from lesionlab.evaluation.decision import score_rules

    # Two images of class 0 every view gets right; two of class 1 that view 0 calls class 0 and
    # views 1-2 call class 1 confidently.
    v0 = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    v12 = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    per_view = np.stack([v0, v12, v12])
    rows = score_rules(per_view, [0, 0, 1, 1], [1, 1], views=(3, 1), taus=(0.0,))
    assert [(r.tta_views, r.tau) for r in rows] == [(1, 0.0), (3, 0.0)]
    assert rows[0].accuracy == 0.5 and rows[0].balanced_accuracy == 0.5
    assert rows[1].accuracy == 1.0 and rows[1].balanced_accuracy == 1.0


def test_score_rules_matches_sklearn_on_adjusted_argmax() -> None:
    from sklearn.metrics import balanced_accuracy_score

    from lesionlab.evaluation.decision import score_rules

    rng = np.random.default_rng(1)
    per_view = rng.dirichlet(np.ones(3), size=(4, 200))
    y = rng.integers(0, 3, 200)
    counts = np.array([150, 30, 20])
    (row,) = score_rules(per_view, y, counts, views=(4,), taus=(0.75,))
    pred = prior_adjusted(per_view.mean(0), counts, 0.75).argmax(1)
    assert row.accuracy == pytest.approx((pred == y).mean())
    assert row.balanced_accuracy == pytest.approx(balanced_accuracy_score(y, pred))


def test_score_rules_rejects_bad_shapes_and_view_counts() -> None:
    from lesionlab.evaluation.decision import score_rules

    per_view = np.full((2, 5, 3), 1 / 3)
    with pytest.raises(ValueError, match="view_probs"):
        score_rules(per_view[0], [0] * 5, [1, 1, 1])
    with pytest.raises(ValueError, match="views must lie"):
        score_rules(per_view, [0] * 5, [1, 1, 1], views=(1, 4))


def _rule(views: int, tau: float, acc: float, bal: float):
    from lesionlab.evaluation.decision import RuleScore

    return RuleScore(tta_views=views, tau=tau, accuracy=acc, balanced_accuracy=bal)


def test_choose_rule_follows_the_objective_and_the_floor() -> None:
    from lesionlab.evaluation.decision import choose_rule

    rows = [_rule(1, 0.0, 0.84, 0.62), _rule(4, 0.0, 0.86, 0.58), _rule(4, 0.5, 0.80, 0.78)]
    assert choose_rule(rows, "accuracy") == rows[1]
    assert choose_rule(rows, "accuracy", min_balanced_accuracy=0.60) == rows[0]
    assert choose_rule(rows, "mean") == rows[2]
    assert choose_rule(rows, "balanced_accuracy") == rows[2]
    # No rule reaches the floor: the one closest to it.
    assert choose_rule(rows, "accuracy", min_balanced_accuracy=0.9) == rows[2]


def test_choose_rule_keeps_the_earliest_of_equals_and_rejects_unknown_objectives() -> None:
    from lesionlab.evaluation.decision import choose_rule

    rows = [_rule(1, 0.0, 0.8, 0.7), _rule(8, 0.0, 0.8, 0.7)]
    assert choose_rule(rows) == rows[0]
    with pytest.raises(ValueError, match="objective"):
        choose_rule(rows, "auc")
    with pytest.raises(ValueError, match="no rules"):
        choose_rule([])
