"""Zhou et al. 2021's views of an ACFT selection ("Active, Continual Fine Tuning of Convolutional Neural
Networks for Reducing Annotation Efforts"): the candidate gallery (Fig. 7, Appendix B) and the positive
share of each round's picks against random's (Fig. 8).

The gallery shows the top and bottom candidates by a_i, each with its image and the histogram of its
patches' probability of the positive (or dominant) class, the patches kept by majority selection drawn
darker: the prediction patterns of Table 1 (A: around 0.5, C: at both ends, D/E: at one end) are read off
it directly. Figures come back as matplotlib `Figure`s on the Agg canvas, like `evaluation.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lesionlab.evaluation.figures import new_figure
from lesionlab.selection.acft import PAPER_ALPHA, check_patch_probs, majority_indices


def ranked_candidates(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k highest and the k lowest scores (highest first, lowest last)."""
    scores = np.asarray(scores, dtype=float)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    order = np.argsort(-scores, kind="stable")
    k = min(k, len(order))
    return order[:k], order[len(order) - k :]


def kept_mask(patch_probs: np.ndarray, alpha: float = PAPER_ALPHA) -> np.ndarray:
    """(N, m) True for the patches majority selection keeps (`acft.majority_patches`' choice)."""
    probs = check_patch_probs(patch_probs)
    mask = np.zeros(probs.shape[:2], dtype=bool)
    np.put_along_axis(mask, majority_indices(probs, alpha), True, axis=1)
    return mask


def candidate_gallery(
    patch_probs: np.ndarray,
    scores: np.ndarray,
    images: Sequence[np.ndarray | None],
    labels: Sequence[str] = (),
    k: int = 5,
    positive: int = 1,
    alpha: float = PAPER_ALPHA,
    title: str = "",
) -> Figure:
    """Top and bottom `k` candidates by score: image and histogram of P(class `positive`) over patches.

    `images` (one (H, W, 3) uint8 array or None per candidate) and `labels` (their true classes, when
    known) are indexed like `patch_probs`.
    """
    probs = check_patch_probs(patch_probs)
    if len(scores) != len(probs) or len(images) != len(probs) or (labels and len(labels) != len(probs)):
        raise ValueError("patch_probs, scores, images and labels need one entry per candidate")
    top, bottom = ranked_candidates(scores, k)
    kept = kept_mask(probs, alpha)
    rows = len(top)
    fig = new_figure(9.0, 1.6 * rows + 0.6)
    grid = fig.add_gridspec(rows, 4, width_ratios=[1, 2, 1, 2])
    bins = np.linspace(0, 1, 11)
    for col, (which, idx) in enumerate((("top", top), ("bottom", bottom))):
        for r, i in enumerate(idx):
            ax_img = fig.add_subplot(grid[r, 2 * col])
            ax_img.axis("off")
            if images[i] is not None:
                ax_img.imshow(images[i])
            label = f" ({labels[i]})" if labels else ""
            ax_img.set_title(f"{which} {r + 1}{label}", fontsize=7)
            ax = fig.add_subplot(grid[r, 2 * col + 1])
            p = probs[i, :, positive]
            ax.hist([p[kept[i]], p[~kept[i]]], bins=bins, stacked=True, color=["#1f4e79", "#9ecae1"])
            ax.set_xlim(0, 1)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.set_title(f"a = {scores[i]:.3g}", fontsize=7)
    fig.suptitle(
        title or f"top and bottom {rows} candidates: P(class {positive}) of their patches", fontsize=8
    )
    return fig


def positive_share(rounds: Sequence[dict[str, Any]], positive: str) -> list[float | None]:
    """Per round, the share of the newly selected candidates whose label is `positive` (Fig. 8); None
    for a round that selected nothing."""
    out: list[float | None] = []
    for entry in rounds:
        counts = entry.get("new_class_counts") or {}
        total = sum(counts.values())
        out.append(counts.get(positive, 0) / total if total else None)
    return out


def balance_figure(shares: dict[str, Sequence[float | None]], pool_share: float | None = None) -> Figure:
    """Fig. 8: the positive share of each round's picks per row (random's is the pool's, roughly)."""
    fig = new_figure(5.0, 3.0)
    ax = fig.add_subplot()
    for name, values in shares.items():
        y = np.array([np.nan if v is None else v for v in values], dtype=float)
        ax.plot(np.arange(1, len(y) + 1), y, marker="o", ms=3, label=name)
    if pool_share is not None:
        ax.axhline(pool_share, color="#7f7f7f", ls="--", lw=1, label="pool")
    ax.set_xlabel("round of selection")
    ax.set_ylabel("positives among the picks")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    return fig


def save_png(fig: Figure, path: Path) -> Path:
    """Write a figure atomically (a PNG beside a benchmark's or a run's report)."""
    from lesionlab.evaluation.figures import png_bytes
    from lesionlab.io import atomic_file

    with atomic_file(path) as fh:
        fh.write(png_bytes(fig))
    return path
