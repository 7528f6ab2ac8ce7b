"""Post-hoc decision rules: turn class probabilities into decisions without retraining.

A classifier trained on skewed classes (HAM10000 is 72 % nevi) carries the training prior in its
probabilities. Logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021)
divides it out to a chosen degree: p_c / pi_c**tau, renormalised, i.e. softmax(log p - tau log pi).
tau = 0 is the plain argmax; tau = 1 aims at balanced error. Choose tau on a validation split.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def prior_adjusted(probs: ArrayLike, class_counts: ArrayLike, tau: float) -> np.ndarray:
    """Probabilities (N, C) with the training prior divided out to the power `tau`, rows summing to 1.

    `class_counts` are the training images per class; a class without images counts as one, so it is
    favoured most but never divides by zero.
    """
    p = np.asarray(probs, dtype=np.float64)
    counts = np.asarray(class_counts, dtype=np.float64)
    if p.ndim != 2 or counts.shape != (p.shape[1],):
        raise ValueError(f"probs must be (N, C) and class_counts (C,), got {p.shape} and {counts.shape}")
    if not np.isfinite(tau) or tau < 0:
        raise ValueError(f"tau must be a finite number >= 0, got {tau}")
    if (counts < 0).any():
        raise ValueError("class_counts must be non-negative")
    prior = np.maximum(counts, 1.0) / np.maximum(counts, 1.0).sum()
    logits = np.log(np.clip(p, 1e-12, None)) - tau * np.log(prior)
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)
