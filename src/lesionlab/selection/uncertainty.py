"""Uncertainty strategies: rank the unlabelled pool by how unsure the current model (or committee) is.

Every strategy here is multi-class aware and scores so that higher means "annotate sooner"; `top_k`
then picks the budget with seeded tie-breaking. Entropies are in nats (natural log).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import entropy

from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy, top_k

# Rows of a probability array may drift this far from summing to one (float32 softmax, averaging).
_SUM_TOLERANCE = 1e-3


def class_probabilities(evidence: Evidence, name: str, ndim: int) -> np.ndarray:
    """Fetch a probability field and fail loudly on logits, wrong shapes or a single class column."""
    arr = np.asarray(evidence.require(name), dtype=float)
    if arr.ndim != ndim:
        raise ValueError(f"evidence {name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.shape[-1] < 2:
        raise ValueError(
            f"evidence {name} needs one column per class (>= 2), got shape {arr.shape}; "
            "for a single sigmoid output pass [1 - p, p]"
        )
    if arr.size and (
        not np.all(np.isfinite(arr))
        or arr.min() < -_SUM_TOLERANCE
        or not np.allclose(arr.sum(axis=-1), 1.0, atol=_SUM_TOLERANCE)
    ):
        raise ValueError(f"evidence {name} must hold probabilities (finite, >= 0, summing to 1 per row)")
    return np.clip(arr, 0.0, None)


def _mutual_information(samples: np.ndarray) -> np.ndarray:
    """Entropy of the mean minus mean entropy over axis 0: disagreement among samples/members, per row.

    The subtraction can dip a hair below zero in floating point; such noise is clipped so agreement
    scores exactly zero.
    """
    total = entropy(samples.mean(axis=0), axis=-1)
    expected = entropy(samples, axis=-1).mean(axis=0)
    return np.clip(total - expected, 0.0, None)


@register_strategy("random")
class RandomStrategy(Strategy):
    """Uniform sampling without replacement: the baseline every other strategy must beat."""

    requires = frozenset()

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        # Ranking by i.i.d. uniform draws is a uniformly random permutation.
        return top_k(evidence, rng.random(len(evidence.ids)), budget, rng)


@register_strategy("least_confidence")
class LeastConfidence(Strategy):
    """1 - max class probability (Shi et al. 2019): low top-class confidence marks samples near a boundary."""

    requires = frozenset({"probs"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        probs = class_probabilities(evidence, "probs", ndim=2)
        return top_k(evidence, 1.0 - probs.max(axis=1), budget, rng)


@register_strategy("margin")
class Margin(Strategy):
    """-(p1 - p2) of the two most likely classes: a small margin means the top two classes are confused."""

    requires = frozenset({"probs"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        probs = class_probabilities(evidence, "probs", ndim=2)
        top2 = np.partition(probs, -2, axis=1)[:, -2:]
        return top_k(evidence, -(top2[:, 1] - top2[:, 0]), budget, rng)


@register_strategy("entropy")
class Entropy(Strategy):
    """Predictive entropy: uses the whole distribution, not just the top one or two classes."""

    requires = frozenset({"probs"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        probs = class_probabilities(evidence, "probs", ndim=2)
        return top_k(evidence, entropy(probs, axis=1), budget, rng)


@register_strategy("bald")
class Bald(Strategy):
    """BALD over MC-dropout passes: mutual information separates model (epistemic) doubt from label noise."""

    requires = frozenset({"mc_probs"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        mc_probs = class_probabilities(evidence, "mc_probs", ndim=3)
        return top_k(evidence, _mutual_information(mc_probs), budget, rng)


@register_strategy("ensemble_variance")
class EnsembleVariance(Strategy):
    """ens-S (Zhao et al.'s baseline): mean over classes of the variance across members; disagreement."""

    requires = frozenset({"ensemble_probs"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        members = class_probabilities(evidence, "ensemble_probs", ndim=3)
        return top_k(evidence, members.var(axis=0).mean(axis=-1), budget, rng)


@register_strategy("ensemble_js")
class EnsembleJensenShannon(Strategy):
    """ens-JS (Zhao et al.'s baseline): Jensen-Shannon divergence among members, i.e. H(mean) - mean H."""

    requires = frozenset({"ensemble_probs"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        members = class_probabilities(evidence, "ensemble_probs", ndim=3)
        return top_k(evidence, _mutual_information(members), budget, rng)
