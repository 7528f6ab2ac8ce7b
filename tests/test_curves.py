"""Learning-curve summaries: ALC, labels to a target, annotation saving, mean/SE across seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lesionlab.evaluation.curves import alc, annotation_saving, labels_to_target, learning_curve

# --- learning_curve ----------------------------------------------------------------------------------


def test_learning_curve_mean_and_sem() -> None:
    runs = [[(0.1, 0.6), (0.2, 0.7)], [(0.1, 0.8), (0.2, 0.9)], [(0.1, 0.7), (0.2, 0.8)]]
    curve = learning_curve(runs)
    assert [point["x"] for point in curve] == [0.1, 0.2]
    assert curve[0]["mean"] == pytest.approx(0.7)
    assert curve[1]["mean"] == pytest.approx(0.8)
    # values 0.6, 0.8, 0.7: sample std 0.1, standard error 0.1 / sqrt(3)
    assert curve[0]["std"] == pytest.approx(0.1)
    assert curve[0]["sem"] == pytest.approx(0.1 / math.sqrt(3))
    assert curve[0]["n"] == 3


def test_learning_curve_single_run_has_unknown_spread() -> None:
    curve = learning_curve([[(10, 0.5), (20, 0.6)]])
    assert curve[1]["mean"] == pytest.approx(0.6)
    assert math.isnan(curve[0]["sem"])


@pytest.mark.parametrize(
    "runs",
    [
        [[(0.1, 0.6), (0.2, 0.7)], [(0.1, 0.8), (0.3, 0.9)]],  # different x
        [[(0.1, 0.6), (0.2, 0.7)], [(0.1, 0.8)]],  # different length
        [],
    ],
)
def test_learning_curve_rejects_mismatched_grids(runs: list) -> None:
    with pytest.raises(ValueError):
        learning_curve(runs)


# --- alc ---------------------------------------------------------------------------------------------


def test_alc_constant_curve_is_the_constant() -> None:
    assert alc([0.1, 0.2, 0.35, 0.5], [0.8] * 4) == pytest.approx(0.8)


def test_alc_linear_ramp() -> None:
    assert alc([0.1, 0.5], [0.0, 1.0]) == pytest.approx(0.5)
    assert alc(np.linspace(0.1, 0.5, 9), np.linspace(0.0, 1.0, 9)) == pytest.approx(0.5)


def test_alc_matches_trapezoid_by_hand() -> None:
    x = [0.1, 0.2, 0.4, 0.5]
    y = [0.5, 0.7, 0.75, 0.9]
    by_hand = sum((x[i + 1] - x[i]) * (y[i] + y[i + 1]) / 2 for i in range(len(x) - 1)) / (x[-1] - x[0])
    assert alc(x, y) == pytest.approx(by_hand)


def test_alc_same_for_counts_and_fractions() -> None:
    y = [0.5, 0.7, 0.75, 0.9]
    assert alc([100, 200, 400, 500], y) == pytest.approx(alc([0.1, 0.2, 0.4, 0.5], y))


def test_alc_single_point_is_its_metric() -> None:
    assert alc([0.3], [0.71]) == pytest.approx(0.71)


@pytest.mark.parametrize(("x", "y"), [([], []), ([0.1, 0.2], [0.5]), ([0.2, 0.1], [0.5, 0.6])])
def test_alc_rejects_bad_curves(x: list, y: list) -> None:
    with pytest.raises(ValueError):
        alc(x, y)


# --- labels_to_target --------------------------------------------------------------------------------


def test_labels_to_target_interpolates() -> None:
    # 0.70 at 100 labels, 0.80 at 200: 0.75 is reached half-way, at 150.
    assert labels_to_target([100, 200, 300], [0.70, 0.80, 0.85], 0.75) == pytest.approx(150.0)


def test_labels_to_target_exact_and_first_point() -> None:
    assert labels_to_target([100, 200, 300], [0.70, 0.80, 0.85], 0.80) == pytest.approx(200.0)
    assert labels_to_target([100, 200, 300], [0.70, 0.80, 0.85], 0.50) == pytest.approx(100.0)


def test_labels_to_target_uses_first_crossing() -> None:
    # Reaches 0.8 at 200, dips, reaches again at 400: the first crossing counts.
    assert labels_to_target([100, 200, 300, 400], [0.7, 0.8, 0.6, 0.9], 0.8) == pytest.approx(200.0)


def test_labels_to_target_never_reached() -> None:
    assert labels_to_target([100, 200], [0.7, 0.8], 0.9) is None


# --- annotation_saving -------------------------------------------------------------------------------


def test_saving_positive_when_strategy_reaches_target_earlier() -> None:
    n = [100, 200, 300, 400]
    random = [0.60, 0.70, 0.75, 0.80]
    strategy = [0.65, 0.80, 0.82, 0.83]
    # random first reaches its best (0.80) at 400 labels, the strategy at 200: half the labels saved.
    assert annotation_saving(n, strategy, random) == pytest.approx(0.5)


def test_saving_with_explicit_target_and_interpolation() -> None:
    n = [100, 200, 300, 400]
    random = [0.60, 0.70, 0.75, 0.80]
    strategy = [0.70, 0.80, 0.82, 0.83]
    # target 0.75: random at 300, strategy half-way between 100 and 200 -> 150.
    assert annotation_saving(n, strategy, random, target=0.75) == pytest.approx(1 - 150 / 300)


def test_saving_zero_for_same_curve_negative_when_slower() -> None:
    n = [100, 200, 300]
    assert annotation_saving(n, [0.6, 0.7, 0.8], [0.6, 0.7, 0.8]) == pytest.approx(0.0)
    assert annotation_saving(n, [0.6, 0.75, 0.8], [0.6, 0.8, 0.8]) < 0


def test_saving_none_when_strategy_never_reaches_target() -> None:
    assert annotation_saving([100, 200], [0.5, 0.6], [0.6, 0.7]) is None


def test_saving_with_separate_random_grid() -> None:
    saving = annotation_saving([50, 100], [0.7, 0.8], [0.6, 0.7, 0.8], n_labeled_random=[100, 200, 300])
    assert saving == pytest.approx(1 - 100 / 300)
