"""Significance tests: is strategy A really better than B, and did this round really help?

`compare_curves` compares two strategies' learning curves, paired by seed and round.
`round_gain_significant` implements the stopping rule of Shi et al. 2019, "An Active Learning Approach
for Reducing Annotation Cost in Skin Lesion Analysis" ("stop when a round's gain is not significant,
p > 0.05"), with McNemar's exact test on the same validation images by default.
`delong_auc_test` compares two ROC AUCs measured on the same images.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import binomtest, norm, rankdata, ttest_rel, wilcoxon

Alternative = Literal["two-sided", "greater", "less"]


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same-shape float arrays with pairs containing NaN dropped (a failed run must not poison the test)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape, got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def _paired_tests(a: np.ndarray, b: np.ndarray, alternative: Alternative) -> dict[str, float]:
    """Wilcoxon signed-rank and paired t-test on flat paired values, with degenerate cases made explicit.

    scipy returns NaN (t-test) or warns (Wilcoxon) when every difference is zero; "no difference at
    all" is reported as p = 1 instead. A constant non-zero difference gives the t-test p = 0 (or 1).
    """
    diff = a - b
    if diff.size == 0 or np.all(diff == 0):
        return {"statistic": 0.0, "p_wilcoxon": 1.0, "t_statistic": 0.0, "p_ttest": 1.0}
    w = wilcoxon(a, b, alternative=alternative)
    if np.all(diff == diff[0]):  # zero variance: the t statistic is +-inf, scipy may warn
        sign = float(np.sign(diff[0]))
        t_stat = sign * np.inf
        supports = {"two-sided": True, "greater": sign > 0, "less": sign < 0}[alternative]
        t_p = 0.0 if supports else 1.0
    else:
        t = ttest_rel(a, b, alternative=alternative)
        t_stat, t_p = float(t.statistic), float(t.pvalue)
    return {
        "statistic": float(w.statistic),
        "p_wilcoxon": float(w.pvalue),
        "t_statistic": t_stat,
        "p_ttest": t_p,
    }


def compare_curves(
    a: np.ndarray,
    b: np.ndarray,
    alternative: Alternative = "two-sided",
    pair_over: Literal["points", "seeds"] = "points",
) -> dict[str, float | int]:
    """Paired test of strategy A's curve against B's; arrays are (seeds, rounds) of the same metric.

    pair_over="points" (the default) pairs every (seed, round) cell: most power, but rounds of one seed
    are correlated, so p-values are optimistic. pair_over="seeds" first averages each seed over rounds
    (a per-seed ALC on an even grid) and pairs seeds only: fewer pairs, honest independence. Seeds must
    be matched (same initial set and split for A and B) for pairing to make sense.

    Returns statistic (Wilcoxon signed-rank), p_wilcoxon, t_statistic, p_ttest (paired t-test),
    mean_difference (mean of a - b) and n (number of pairs used, NaN pairs dropped).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"curves must both be (seeds, rounds) arrays of one shape, got {a.shape}, {b.shape}")
    if pair_over == "seeds":
        a, b = np.nanmean(a, axis=1), np.nanmean(b, axis=1)
    elif pair_over != "points":
        raise ValueError(f"pair_over must be 'points' or 'seeds', got {pair_over!r}")
    x, y = _paired(a.ravel(), b.ravel())
    result: dict[str, float | int] = dict(_paired_tests(x, y, alternative))
    result["mean_difference"] = float(np.mean(x - y)) if x.size else float("nan")
    result["n"] = int(x.size)
    return result


def mcnemar_exact(
    prev_correct: np.ndarray, curr_correct: np.ndarray, alternative: Alternative = "greater"
) -> float:
    """McNemar's exact p-value that the current model is right more often than the previous one.

    Only discordant images carry information: b = fixed by the new model, c = broken by it. Under no
    change each discordant image is equally likely to go either way, so b ~ Binomial(b + c, 1/2).
    """
    prev, curr = _correctness(prev_correct), _correctness(curr_correct)
    if prev.shape != curr.shape:
        raise ValueError(f"both models must be scored on the same images, got {prev.shape} and {curr.shape}")
    fixed = int(np.sum(~prev & curr))
    broken = int(np.sum(prev & ~curr))
    if fixed + broken == 0:
        return 1.0
    return float(binomtest(fixed, fixed + broken, 0.5, alternative=alternative).pvalue)


def _correctness(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not np.isin(arr, (0, 1)).all():
        raise ValueError("McNemar needs 1-D per-image correctness values of 0/1 (or booleans)")
    return arr.astype(bool)


def round_gain_significant(
    prev: np.ndarray,
    curr: np.ndarray,
    alpha: float = 0.05,
    test: Literal["mcnemar", "wilcoxon", "ttest"] = "mcnemar",
) -> tuple[bool, float]:
    """Shi et al. 2019's stopping rule: did this round improve on the last one significantly (p <= alpha)?

    test="mcnemar" (default): prev/curr are per-image 0/1 correctness of the previous and current model
    on the same validation images; one-sided exact McNemar test for improvement. It is the standard
    test for two classifiers on one test set, exact for the small validation sets of skin-lesion work,
    and needs no extra training runs. test="wilcoxon"/"ttest": prev/curr are paired per-seed metric
    values (e.g. accuracy of each seed's model), tested one-sided for curr > prev.
    Returns (significant, p); the loop stops when `significant` is False (p > alpha).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if test == "mcnemar":
        p = mcnemar_exact(prev, curr, alternative="greater")
    elif test in ("wilcoxon", "ttest"):
        x, y = _paired(np.ravel(prev), np.ravel(curr))
        if x.size < 2:
            raise ValueError(f"a paired {test} test needs at least 2 paired values, got {x.size}")
        key = "p_wilcoxon" if test == "wilcoxon" else "p_ttest"
        p = _paired_tests(y, x, alternative="greater")[key]
    else:
        raise ValueError(f"test must be 'mcnemar', 'wilcoxon' or 'ttest', got {test!r}")
    return p <= alpha, p


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong structural components for k score rows (Sun & Xu 2014's fast midrank algorithm)."""
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    rank_pos = rankdata(pos, axis=1)
    rank_neg = rankdata(neg, axis=1)
    rank_all = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    auc = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    return auc, v10, v01


def delong_auc_test(
    y: np.ndarray, p_prev: np.ndarray, p_curr: np.ndarray, alternative: Alternative = "greater"
) -> dict[str, float]:
    """DeLong's test for two correlated ROC AUCs on the same images (binary task, e.g. melanoma vs rest).

    Use it when the stopping rule should follow AUC (the ISIC metric) rather than accuracy. The default
    alternative asks whether the current model's AUC is higher. Returns auc_prev, auc_curr, z and p.
    """
    labels = np.asarray(y)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise ValueError("DeLong needs 1-D binary labels (0/1)")
    labels = labels.astype(bool)
    if min(labels.sum(), (~labels).sum()) < 2:
        raise ValueError("DeLong needs at least 2 positive and 2 negative images to estimate a variance")
    scores = np.vstack([np.asarray(p_prev, dtype=float), np.asarray(p_curr, dtype=float)])
    if scores.shape[1] != labels.size:
        raise ValueError(f"need one score per image: {scores.shape[1]} scores for {labels.size} labels")
    auc, v10, v01 = _delong_components(labels, scores)
    cov = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    delta = float(auc[1] - auc[0])
    # Zero variance (identical rankings up to a shift) makes any difference infinitely certain.
    z = delta / np.sqrt(var) if var > 0 else (0.0 if delta == 0 else float(np.sign(delta) * np.inf))
    if alternative == "greater":
        p = norm.sf(z)
    elif alternative == "less":
        p = norm.cdf(z)
    else:
        p = 2 * norm.sf(abs(z))
    return {"auc_prev": float(auc[0]), "auc_curr": float(auc[1]), "z": float(z), "p": float(min(p, 1.0))}
