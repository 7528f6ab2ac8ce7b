"""How well a ranking of labels finds the wrong ones, when the true flips are known (simulated noise)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def precision_recall_at_k(ranked_ids: Sequence, flipped: Iterable, k: int | None = None) -> dict[str, float]:
    """Precision and recall of the first `k` ids of a ranking (default k = the number of flips).

    Precision at k = flips among the first k / k; recall at k = flips among the first k / all flips (at
    the default k the two are equal). A ranking shorter than k counts its missing places as misses.
    """
    truth = set(flipped)
    k = len(truth) if k is None else int(k)
    if k < 1:
        raise ValueError("k must be >= 1 (and there must be at least one flip when k is not given)")
    hits = len(truth.intersection(list(ranked_ids)[:k]))
    return {
        "k": k,
        "n_flipped": len(truth),
        "hits": hits,
        "precision_at_k": hits / k,
        "recall_at_k": hits / len(truth) if truth else float("nan"),
    }
