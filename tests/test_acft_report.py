"""Zhou et al. 2021's report extras: the candidate gallery (Fig. 7, Appendix B), positive share (Fig. 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.evaluation.acft_report import (
    balance_figure,
    candidate_gallery,
    kept_mask,
    positive_share,
    ranked_candidates,
    save_png,
)
from lesionlab.selection.acft import acft_scores, majority_patches


def test_ranked_candidates() -> None:
    top, bottom = ranked_candidates(np.array([0.2, 0.9, 0.1, 0.5, 0.7]), 2)
    assert top.tolist() == [1, 4] and bottom.tolist() == [0, 2]
    top, bottom = ranked_candidates(np.array([1.0, 2.0]), 5)  # k larger than the pool
    assert top.tolist() == [1, 0] and bottom.tolist() == [1, 0]


def test_kept_mask_marks_the_majority_patches() -> None:
    probs = np.random.default_rng(0).dirichlet([1, 1], size=(6, 9))
    mask = kept_mask(probs, 0.25)
    assert mask.sum(axis=1).tolist() == [3] * 6
    for i in range(6):
        np.testing.assert_allclose(
            np.sort(probs[i][mask[i]], axis=0), np.sort(majority_patches(probs)[i], axis=0)
        )


def test_gallery_draws_top_and_bottom_with_histograms(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1], size=(7, 12))
    scores = acft_scores(probs, 1, 0)
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(6)] + [None]
    fig = candidate_gallery(probs, scores, images, labels=["nevus"] * 7, k=3)
    # 3 rows x (image, histogram) x (top, bottom)
    assert len(fig.axes) == 12
    titles = [ax.get_title() for ax in fig.axes]
    best = int(np.argmax(scores))
    assert f"a = {scores[best]:.3g}" in titles
    path = save_png(fig, tmp_path / "gallery.png")
    with Image.open(path) as im:
        assert im.size[0] > 500
    with pytest.raises(ValueError, match="one entry per candidate"):
        candidate_gallery(probs, scores[:-1], images)


def test_positive_share_and_figure() -> None:
    rounds = [
        {"new_class_counts": {"melanoma": 30, "other": 70}},
        {"new_class_counts": {"melanoma": 0, "other": 0}},
        {"new_ids": []},
    ]
    assert positive_share(rounds, "melanoma") == [0.3, None, None]
    fig = balance_figure({"acft_hq": [0.3, 0.4], "rft": [0.2, 0.18]}, pool_share=0.187)
    assert len(fig.axes[0].lines) == 3
