"""Simulated label noise (Xue et al. 2019): exact per-class counts, the realised transition, the flipped ids,
and the paper's ranked noise flipping the highest-loss held-out images of each class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesionlab.data.noise import (
    PAPER_TRAIN_FRACTION,
    check_transition,
    estimate_transition,
    logistic_scorer,
    ranked_noise,
    realised_transition,
    relabel,
    symmetric_noise,
    transition_noise,
    uniform_transition,
)
from lesionlab.data.records import Record


def _labels(counts: list[int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))


def _blobs(counts: list[int], seed: int = 0, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = _labels(counts, seed)
    centres = rng.normal(0, 2.0, (len(counts), 5))
    return centres[y] + rng.normal(0, spread, (len(y), 5)), y


# ------------------------------------------------------------------------ symmetric


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.4, 1.0])
def test_symmetric_noise_flips_exactly_the_rate_of_each_class(rate: float) -> None:
    counts = [273, 89, 41]
    y = _labels(counts)
    noisy = symmetric_noise(y, rate, seed=3)
    for k, n_k in enumerate(counts):
        assert noisy.flipped[y == k].sum() == int(np.floor(rate * n_k + 0.5))
    assert np.array_equal(noisy.flipped, noisy.labels != y)
    assert np.array_equal(noisy.clean, y)
    assert (noisy.labels[noisy.flipped] != y[noisy.flipped]).all()  # a flip never lands on the true class
    assert noisy.labels.min() >= 0 and noisy.labels.max() < 3
    np.testing.assert_allclose(noisy.transition, realised_transition(y, noisy.labels, 3))
    np.testing.assert_allclose(noisy.class_rates(), [np.floor(rate * n + 0.5) / n for n in counts])
    np.testing.assert_allclose(noisy.transition.sum(axis=1), 1.0)


def test_symmetric_noise_is_seeded_and_names_the_flipped_ids() -> None:
    y = _labels([50, 50])
    ids = [f"img{i:03d}" for i in range(len(y))]
    a, b, c = (
        symmetric_noise(y, 0.2, seed=1, ids=ids),
        symmetric_noise(y, 0.2, seed=1),
        symmetric_noise(y, 0.2, seed=2),
    )
    assert np.array_equal(a.labels, b.labels) and not np.array_equal(a.labels, c.labels)
    assert a.flipped_ids == [ids[i] for i in np.flatnonzero(a.flipped)]
    assert b.flipped_ids == list(np.flatnonzero(b.flipped))
    assert len(a.flipped_ids) == 20 and a.rate == pytest.approx(0.2)
    # Binary symmetric noise: a flip is the other class.
    assert np.array_equal(a.labels[a.flipped], 1 - y[a.flipped])


def test_uniform_other_class_draws_cover_every_other_class() -> None:
    y = np.zeros(3000, dtype=int)
    noisy = symmetric_noise(y, 0.5, num_classes=4, seed=0)
    shares = noisy.transition[0, 1:]
    assert noisy.transition[0, 0] == pytest.approx(0.5)
    np.testing.assert_allclose(shares, [0.5 / 3] * 3, atol=0.03)


# ------------------------------------------------------------------------ transition matrix


def test_transition_noise_realises_the_matrix_exactly_when_counts_allow() -> None:
    t = np.array([[0.8, 0.15, 0.05], [0.3, 0.7, 0.0], [0.1, 0.1, 0.8]])
    y = _labels([200, 100, 60])
    noisy = transition_noise(y, t, seed=4)
    np.testing.assert_allclose(noisy.transition, t, atol=1e-12)
    assert noisy.flipped.sum() == 40 + 30 + 12
    again = transition_noise(y, t, seed=4)
    assert np.array_equal(noisy.labels, again.labels)


def test_transition_noise_rounds_by_largest_remainder() -> None:
    t = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y = np.array([0] * 7 + [1, 2])
    noisy = transition_noise(y, t, seed=0)
    counts = np.bincount(noisy.labels[y == 0], minlength=3)
    assert counts.sum() == 7 and counts.tolist() == [3, 2, 2]  # 3.5, 1.75, 1.75: floors 3, 1, 1; the .75s win
    np.testing.assert_allclose(noisy.transition[0], counts / 7)
    assert not noisy.flipped[y > 0].any()


def test_uniform_transition_and_checks() -> None:
    t = uniform_transition(3, 0.3)
    np.testing.assert_allclose(t, [[0.7, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.15, 0.7]])
    assert check_transition(t, 3) is not None
    with pytest.raises(ValueError, match="square"):
        check_transition(np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="summing to 1"):
        check_transition([[0.5, 0.4], [0.0, 1.0]])
    with pytest.raises(ValueError, match="3 classes"):
        check_transition(np.eye(2), 3)
    with pytest.raises(ValueError, match="rate"):
        symmetric_noise([0, 1], 1.5)
    with pytest.raises(ValueError, match="lie in"):
        transition_noise([0, 3], np.eye(2))


# ------------------------------------------------------------------------ ranked (Xue et al. 2019)


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2, 0.4])
def test_ranked_noise_flips_the_highest_loss_held_out_images_of_each_class(rate: float) -> None:
    counts = [550, 180]  # about the paper's 2,733 : 894 ratio
    x, y = _blobs(counts)
    scorer = logistic_scorer(x, y)
    noisy = ranked_noise(y, rate, scorer, seed=7)

    # The same split and probabilities, recomputed here: the paper's 1,000 of 3,582 train the scorer.
    order = np.random.default_rng(7).permutation(len(y))
    n_train = int(np.floor(PAPER_TRAIN_FRACTION * len(y) + 0.5))
    train_idx, score_idx = np.sort(order[:n_train]), np.sort(order[n_train:])
    probs = scorer(train_idx, score_idx)
    loss = np.full(len(y), np.nan)
    loss[score_idx] = -np.log(probs[np.arange(len(score_idx)), y[score_idx]])
    np.testing.assert_allclose(noisy.loss, loss)
    assert np.array_equal(noisy.scored, np.isfinite(loss))

    assert not noisy.flipped[train_idx].any()  # the scorer's own images keep their labels
    for k, n_k in enumerate(counts):
        in_class = np.flatnonzero((y == k) & noisy.scored)
        n_flip = int(np.floor(rate * n_k + 0.5))  # gamma of the whole class
        assert noisy.flipped[y == k].sum() == n_flip
        highest = in_class[np.argsort(-loss[in_class], kind="stable")[:n_flip]]
        assert set(np.flatnonzero(noisy.flipped & (y == k))) == set(highest)
        # ... and every kept scored image of the class has a loss no higher than every flipped one.
        kept = in_class[~noisy.flipped[in_class]]
        if n_flip and len(kept):
            assert loss[kept].max() <= loss[highest].min()
    assert np.array_equal(noisy.labels[noisy.flipped], 1 - y[noisy.flipped])
    np.testing.assert_allclose(noisy.class_rates(), [np.floor(rate * n + 0.5) / n for n in counts])


def test_ranked_noise_relative_to_the_scored_part_and_multiclass_targets() -> None:
    counts = [300, 200, 100]
    x, y = _blobs(counts, seed=2, spread=2.5)
    scorer = logistic_scorer(x, y)
    noisy = ranked_noise(y, 0.2, scorer, train_size=200, seed=0, relative_to="scored")
    for k in range(3):
        scored_k = int(((y == k) & noisy.scored).sum())
        assert noisy.flipped[y == k].sum() == int(np.floor(0.2 * scored_k + 0.5))
    assert noisy.scored.sum() == len(y) - 200
    # With three classes a flip goes to the scorer's most probable wrong class.
    order = np.random.default_rng(0).permutation(len(y))
    train_idx, score_idx = np.sort(order[:200]), np.sort(order[200:])
    probs = scorer(train_idx, score_idx)
    position = {i: j for j, i in enumerate(score_idx)}
    for i in noisy.flipped_index:
        p = probs[position[i]].copy()
        p[y[i]] = -1
        assert noisy.labels[i] == int(np.argmax(p))


def test_ranked_noise_refuses_impossible_requests() -> None:
    x, y = _blobs([60, 20])
    with pytest.raises(ValueError, match="only"):
        ranked_noise(y, 0.9, logistic_scorer(x, y), train_size=0.5)
    with pytest.raises(ValueError, match="both sides"):
        ranked_noise(y, 0.1, logistic_scorer(x, y), train_size=80)
    with pytest.raises(ValueError, match="shape"):
        ranked_noise(y, 0.1, lambda train, score: np.ones((len(score), 3)) / 3)


def test_relabel_carries_the_noisy_labels(tmp_path: Path) -> None:
    records = [Record(f"r{i}", tmp_path / f"r{i}.jpg", i % 2) for i in range(10)]
    noisy = symmetric_noise([r.label for r in records], 0.2, seed=0, ids=[r.id for r in records])
    out = relabel(records, noisy)
    assert [r.label for r in out] == noisy.labels.tolist()
    assert [r.id for r in out] == [r.id for r in records] and records[0].label == 0
    assert {r.id for r, o in zip(records, out, strict=True) if r.label != o.label} == set(noisy.flipped_ids)


# ------------------------------------------------------------------------ estimating T


def test_estimate_transition_reads_the_anchor_rows() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=200)
    # Plain maximum: row i is the image with the highest p(i | x).
    t = estimate_transition(probs, quantile=1.0)
    for i in range(3):
        np.testing.assert_allclose(t[i], probs[np.argmax(probs[:, i])])
    # 97th percentile ("higher"): the highest p(i | x) strictly below it.
    t = estimate_transition(probs)
    for i in range(3):
        column = probs[:, i]
        threshold = np.sort(column)[int(np.ceil(0.97 * (len(column) - 1)))]
        below = np.where(column < threshold, column, -np.inf)
        np.testing.assert_allclose(t[i], probs[np.argmax(below)])
        assert column[np.argmax(below)] < threshold
    with pytest.raises(ValueError):
        estimate_transition(probs, quantile=0.0)
