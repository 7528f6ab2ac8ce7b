"""Evaluating a saved segmentation run: mean Dice / Jaccard over images with percentile bootstrap intervals.

Every metric the task reports is the mean of a per-image value (`SegmentationTask.per_image`), so each
gets its interval from the same resamples of images. (The thresholded Jaccard once had no per-image
value, and its interval printed as "nan - nan" on every segmentation evaluation.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from lesionlab.data.records import LabeledDataset, Record
from lesionlab.errors import DataError
from lesionlab.progress import progress


def mean_intervals(
    per_image: dict[str, np.ndarray],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of the mean of each per-image array (all of one length N).

    Images are resampled with replacement (the same draws for every metric). Non-finite values are
    refused rather than dropped: a mean over images is defined for every resample, so a nan here is a
    bug upstream, not an undefined resample.
    """
    lengths = {len(v) for v in per_image.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"per-image arrays must share one non-zero length, got {sorted(lengths)}")
    bad = [k for k, v in per_image.items() if not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"per-image values of {', '.join(bad)} are not all finite")
    n = lengths.pop()
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)  # resamples x images held at once
    means: dict[str, list[np.ndarray]] = {k: [] for k in per_image}
    starts = range(0, n_boot, chunk)
    for start in progress(starts, f"bootstrap ({n_boot} resamples)", enabled=show_progress):
        draws = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        for name, values in per_image.items():
            means[name].append(np.asarray(values, dtype=np.float64)[draws].mean(axis=1))
    quantiles = [alpha / 2, 1 - alpha / 2]
    return {
        name: tuple(float(q) for q in np.quantile(np.concatenate(m), quantiles)) for name, m in means.items()
    }


def require_masks(dataset: LabeledDataset, split: str, chosen: Sequence[Record]) -> list[Record]:
    """The records of `chosen` that have a mask; a DataError that says how to get some when none has."""
    records = [r for r in chosen if r.mask_path is not None]
    if records:
        return records
    have = Counter(r.split for r in dataset.records if r.mask_path is not None)
    if not have:
        fix = (
            "give the masks folder: --masks FOLDER and, unless they are named {id}_segmentation.png, "
            "--mask-pattern (e.g. '{id}_mask.png')"
            if dataset.name == "folder"
            else "this source has no masks for these images"
        )
        raise DataError(f"{dataset.name} gives no masks at all: {fix}")
    listing = ", ".join(f"{s} ({n})" for s, n in have.items())
    isic = "; ISIC 2017 has masks for train and val only" if dataset.name == "isic2017" else ""
    raise DataError(
        f"{dataset.name} has no {split!r} images with a mask; images with masks per split: {listing}. "
        f"Choose one with --split (train, val, test or all{isic})"
    )


def evaluate_masks(
    dataset: LabeledDataset, trainer: Any, split: str, chosen: Sequence[Record], n_boot: int
) -> dict[str, Any]:
    """Mean Dice / Jaccard / thresholded Jaccard of a segmentation trainer on the images of `chosen` that
    have a mask, with seeded percentile bootstrap 95 % intervals of the means over images."""
    records = require_masks(dataset, split, chosen)
    truth, probs = trainer.targets(records), trainer.predict(records)
    per_image = trainer.task.per_image(truth, probs)
    return {
        "data": dataset.name,
        "task": trainer.task.name,
        "split": split,
        "n": len(records),
        "n_unlabelled": len(chosen) - len(records),
        "classes": list(dataset.classes),
        "positive_class": None,
        "resize": trainer.config.resize,
        "tta_views": 1,
        "logit_adjustment": 0.0,
        "rule_source": f"segmentation: foreground probability > {trainer.task.threshold:g}",
        "metrics": {name: float(values.mean()) for name, values in per_image.items()},
        "ci95": mean_intervals(per_image, n_boot),
        "per_image": {k: v.tolist() for k, v in per_image.items()},
    }
