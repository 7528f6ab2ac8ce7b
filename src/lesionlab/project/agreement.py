"""Inter-annotator agreement: how far a team's labels can be trusted, per pair and as a whole.

- Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales") for each pair of annotators, on
  the images both labelled: scikit-learn's `cohen_kappa_score`.
- Fleiss' kappa (Fleiss 1971, "Measuring nominal scale agreement among many raters") over the images with the
  most common number (>= 2) of annotators; equal to statsmodels' `fleiss_kappa` (tested), written here so
  lesionlab does not need statsmodels.
- Dice between annotators' masks, per pair, and each annotator against the consensus (class agreement, or
  mean Dice with the fused mask; the consensus includes the annotator's own vote).
- Per annotator: standing annotations and median seconds per image.

A kappa that is undefined (fewer than two shared images, or every answer the same class so that chance
agreement is 1) is reported as None, never as a number that looks like agreement.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from lesionlab.project.consensus import dice


def _pair(a: str, b: str) -> str:
    return f"{a}|{b}"


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an items x categories table of counts (every item rated by the same number)."""
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        return None
    raters = table.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("fleiss_kappa needs the same number (>= 2) of raters for every item")
    n = raters[0]
    p_cat = table.sum(axis=0) / table.sum()
    p_item = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    p_chance = float((p_cat**2).sum())
    if p_chance >= 1.0:
        return None
    return float((p_item.mean() - p_chance) / (1.0 - p_chance))


def _cohen(a: Sequence[int], b: Sequence[int]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(cohen_kappa_score(a, b))
    return None if np.isnan(value) else value


def pairwise_cohen(ratings: Mapping[str, Mapping[str, int]]) -> dict[str, dict]:
    """{"A|B": {"kappa", "n"}} for each pair of annotators (names sorted), on the images both labelled."""
    out = {}
    for a, b in combinations(sorted(ratings), 2):
        shared = sorted(set(ratings[a]) & set(ratings[b]))
        kappa = _cohen([ratings[a][i] for i in shared], [ratings[b][i] for i in shared])
        out[_pair(a, b)] = {"kappa": kappa, "n": len(shared)}
    return out


def fleiss_table(ratings: Mapping[str, Mapping[str, int]], n_classes: int) -> np.ndarray:
    """Items x classes counts over the images with the most common number (>= 2) of annotators."""
    by_image: dict[str, list[int]] = {}
    for person_labels in ratings.values():
        for image_id, label in person_labels.items():
            by_image.setdefault(image_id, []).append(int(label))
    sizes = Counter(len(v) for v in by_image.values() if len(v) >= 2)
    if not sizes:
        return np.zeros((0, n_classes))
    raters = max(sizes, key=lambda s: (sizes[s], s))
    rows = [np.bincount(v, minlength=n_classes) for v in by_image.values() if len(v) == raters]
    return np.array(rows, dtype=np.int64)


def pairwise_dice(masks: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict]:
    """{"A|B": {"dice", "n"}}: mean Dice of two annotators' masks over the images both drew."""
    out = {}
    for a, b in combinations(sorted(masks), 2):
        shared = sorted(set(masks[a]) & set(masks[b]))
        values = [dice(masks[a][i], masks[b][i]) for i in shared]
        out[_pair(a, b)] = {"dice": float(np.mean(values)) if values else None, "n": len(shared)}
    return out


def _vs_consensus(
    ratings: Mapping[str, Mapping[str, int]],
    consensus_labels: Mapping[str, int],
    masks: Mapping[str, Mapping[str, np.ndarray]],
    consensus_masks: Mapping[str, np.ndarray],
) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for person, labels in ratings.items():
        shared = [i for i in labels if i in consensus_labels]
        if shared:
            hits = [labels[i] == consensus_labels[i] for i in shared]
            out[person] = {"agreement": float(np.mean(hits)), "n": len(shared), "measure": "accuracy"}
    for person, drawn in masks.items():
        shared = [i for i in drawn if i in consensus_masks]
        if shared:
            values = [dice(drawn[i], consensus_masks[i]) for i in shared]
            out[person] = {"agreement": float(np.mean(values)), "n": len(shared), "measure": "dice"}
    return out


def agreement_summary(
    ratings: Mapping[str, Mapping[str, int]],
    consensus_labels: Mapping[str, int],
    n_classes: int,
    masks: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    consensus_masks: Mapping[str, np.ndarray] | None = None,
    seconds: Mapping[str, Sequence[float]] | None = None,
) -> dict:
    """Everything `project status` and the page show about agreement, as plain JSON-able numbers.

    `ratings`: {annotator: {image id: class}}; `masks`: {annotator: {image id: bool mask}}; `seconds`:
    {annotator: [seconds per annotation]}; the consensus maps hold the usable consensus only.
    """
    masks, consensus_masks, seconds = masks or {}, consensus_masks or {}, seconds or {}
    table = fleiss_table(ratings, n_classes)
    people = sorted(set(ratings) | set(masks) | set(seconds))
    annotators = {}
    for person in people:
        times = [float(t) for t in seconds.get(person, []) if t is not None]
        annotators[person] = {
            "annotations": len(ratings.get(person, {})) + len(masks.get(person, {})),
            "median_seconds": float(np.median(times)) if times else None,
        }
    return {
        "cohen_kappa": pairwise_cohen(ratings),
        "fleiss_kappa": fleiss_kappa(table) if len(table) else None,
        "fleiss_items": len(table),
        "fleiss_raters": int(table[0].sum()) if len(table) else None,
        "mask_dice": pairwise_dice(masks),
        "vs_consensus": _vs_consensus(ratings, consensus_labels, masks, consensus_masks),
        "annotators": annotators,
    }
