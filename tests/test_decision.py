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
