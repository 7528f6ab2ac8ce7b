"""Consensus and agreement of several annotators: the rules of docs/annotation.md, and the kappas checked
against scikit-learn's `cohen_kappa_score` and statsmodels' `fleiss_kappa` on random label sets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from lesionlab.project.agreement import (
    agreement_summary,
    fleiss_kappa,
    fleiss_table,
    pairwise_cohen,
    pairwise_dice,
)
from lesionlab.project.consensus import class_consensus, dice, fuse_masks, mask_consensus

NAMES = ["other", "melanoma", "keratosis"]


@pytest.mark.parametrize(
    ("labels", "overlap", "status", "label"),
    [
        ([1], 1, "agreed", 1),
        ([1], 2, "incomplete", None),
        ([1, 1], 2, "agreed", 1),
        ([0, 1], 2, "unresolved", None),  # two people disagreeing: a tie
        ([0, 1, 1], 3, "majority", 1),
        ([0, 1, 2], 3, "unresolved", None),  # three-way split: no majority
        ([0, 0, 1, 1], 3, "unresolved", None),  # more answers than overlap, still a tie
    ],
)
def test_class_consensus_rules(labels: list[int], overlap: int, status: str, label: int | None) -> None:
    result = class_consensus(labels, overlap, names=NAMES)
    assert (result.status, result.label) == (status, label)
    assert result.usable == (status in ("agreed", "majority"))
    assert result.needs_review == (status in ("majority", "unresolved"))


def test_tie_reason_names_the_classes_and_adjudication_wins() -> None:
    assert class_consensus([0, 1], 2, names=NAMES).reason == "tie: 1 other, 1 melanoma"
    decided = class_consensus([0, 1], 2, adjudicated=1, names=NAMES)
    assert (decided.status, decided.label, decided.usable, decided.needs_review) == (
        "adjudicated",
        1,
        True,
        False,
    )
    with pytest.raises(ValueError, match="overlap"):
        class_consensus([1], 0)


def test_fused_mask_is_a_pixel_vote() -> None:
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    c = np.zeros((4, 4), bool)
    a[0, :3] = True
    b[0, 1:] = True
    c[0, 2] = True
    assert fuse_masks([a, b]).tolist() == (a & b).tolist()  # two people: what both drew (a tie adds none)
    three = fuse_masks([a, b, c])
    assert three[0].tolist() == [False, True, True, False] and not three[1:].any()  # >= 2 of 3 votes
    with pytest.raises(ValueError, match="shape"):
        fuse_masks([a, np.zeros((3, 4), bool)])


def test_mask_consensus_sends_disagreeing_masks_to_adjudication() -> None:
    a = np.zeros((10, 10), bool)
    a[2:8, 2:8] = True
    near = a.copy()
    near[2, 2] = False
    far = np.zeros((10, 10), bool)
    far[0:2, 0:2] = True
    agreed, fused = mask_consensus([a, near], 2)
    assert agreed.status == "agreed" and fused is not None and fused.sum() == near.sum()  # both drew it
    unresolved, none = mask_consensus([a, far], 2, min_dice=0.8)
    assert unresolved.status == "unresolved" and none is None and "Dice 0.00" in unresolved.reason
    assert mask_consensus([a], 2)[0].status == "incomplete"
    decided, mask = mask_consensus([a, far], 2, adjudicated=far)
    assert decided.status == "adjudicated" and np.array_equal(mask, far)


def test_dice_of_two_empty_masks_is_one() -> None:
    empty = np.zeros((3, 3), bool)
    assert dice(empty, empty) == 1.0
    full = np.ones((3, 3), bool)
    assert dice(empty, full) == 0.0


def _random_ratings(rng: np.random.Generator, people: int, images: int, k: int) -> dict[str, dict[str, int]]:
    truth = rng.integers(0, k, images)
    out = {}
    for p in range(people):
        noisy = np.where(rng.random(images) < 0.3, rng.integers(0, k, images), truth)
        keep = rng.random(images) < 0.8  # not everyone labels every image
        out[f"dr_{p}"] = {f"img_{i}": int(noisy[i]) for i in range(images) if keep[i]}
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_cohen_equals_scikit_learn(seed: int) -> None:
    ratings = _random_ratings(np.random.default_rng(seed), people=3, images=40, k=3)
    pairs = pairwise_cohen(ratings)
    assert set(pairs) == {"dr_0|dr_1", "dr_0|dr_2", "dr_1|dr_2"}
    for key, value in pairs.items():
        a, b = key.split("|")
        shared = sorted(set(ratings[a]) & set(ratings[b]))
        expected = cohen_kappa_score([ratings[a][i] for i in shared], [ratings[b][i] for i in shared])
        assert value["n"] == len(shared)
        assert value["kappa"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fleiss_kappa_equals_statsmodels(seed: int) -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(seed)
    ratings = _random_ratings(rng, people=3, images=60, k=3)
    table = fleiss_table(ratings, 3)
    assert len(table) > 0 and (table.sum(axis=1) == table[0].sum()).all()
    assert fleiss_kappa(table) == pytest.approx(inter_rater.fleiss_kappa(table, method="fleiss"), abs=1e-12)
    # also on a table built straight from random counts, 4 raters per item
    raw = np.array([rng.multinomial(4, [0.5, 0.3, 0.2]) for _ in range(25)])
    assert fleiss_kappa(raw) == pytest.approx(inter_rater.fleiss_kappa(raw, method="fleiss"), abs=1e-12)


def test_undefined_kappas_are_none_not_numbers() -> None:
    same = {"a": {"1": 0, "2": 0}, "b": {"1": 0, "2": 0}}  # one class only: chance agreement is 1
    assert pairwise_cohen(same)["a|b"]["kappa"] is None
    assert fleiss_kappa(np.array([[2, 0], [2, 0]])) is None
    assert pairwise_cohen({"a": {"1": 0}, "b": {"2": 1}})["a|b"] == {"kappa": None, "n": 0}


def test_summary_counts_mask_annotators_and_times() -> None:
    m = np.zeros((4, 4), bool)
    m[1:3, 1:3] = True
    masks = {"ana": {"x": m, "y": m}, "bo": {"x": m}}
    summary = agreement_summary({}, {}, 2, masks=masks, consensus_masks={"x": m}, seconds={"ana": [4.0, 6.0]})
    assert summary["annotators"]["ana"] == {"annotations": 2, "median_seconds": 5.0}
    assert summary["annotators"]["bo"] == {"annotations": 1, "median_seconds": None}  # a mask counts
    assert summary["mask_dice"] == pairwise_dice(masks) == {"ana|bo": {"dice": 1.0, "n": 1}}
    assert summary["vs_consensus"]["bo"] == {"agreement": 1.0, "n": 1, "measure": "dice"}
    assert summary["fleiss_kappa"] is None and summary["fleiss_items"] == 0
