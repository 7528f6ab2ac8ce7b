"""Strategies that rank the pool by a learned scorer (the baselines of Kim et al. 2020, "Confident
Coreset for Active Learning in Medical Image Analysis").

`learning_loss` (Yoo & Kweon 2019): the loss predictor trained jointly with the model (evidence
`predicted_loss`) estimates each unlabelled image's loss; the highest predicted losses are annotated.
`vaal` (Sinha et al. 2019): a VAE and a discriminator learn to tell labelled from unlabelled images
(evidence `vaal_scores`, the discriminator's probability that an image is unlabelled); the images it is
surest are unlabelled, those least like the labelled set, are annotated. Both are pure functions of
those arrays, like every strategy.
"""

from __future__ import annotations

import numpy as np

from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy, top_k


def _scores(evidence: Evidence, name: str) -> np.ndarray:
    scores = np.asarray(evidence.require(name), dtype=float)
    if scores.ndim != 1 or not np.all(np.isfinite(scores)):
        raise ValueError(f"evidence {name} must be one finite score per image, got shape {scores.shape}")
    return scores


@register_strategy("learning_loss")
class LearningLoss(Strategy):
    """Top predicted loss (Yoo & Kweon 2019; Kim et al.'s learning-loss baseline)."""

    requires = frozenset({"predicted_loss"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        return top_k(evidence, _scores(evidence, "predicted_loss"), budget, rng)


@register_strategy("vaal")
class Vaal(Strategy):
    """Top probability of being unlabelled under VAAL's discriminator (Sinha et al. 2019).

    Parameters go to the `vaal_scores` provider: `latent_dim` (32), `beta` (1), `adversary_weight` (1),
    `epochs` (passes over the unlabelled pool per round, 3 on CPU), `batch_size` (64), `lr` (5e-4).
    """

    requires = frozenset({"vaal_scores"})
    documented_params = ({"latent_dim": 32, "beta": 1.0, "adversary_weight": 1.0, "epochs": 3},)

    def __init__(
        self,
        latent_dim: int = 32,
        beta: float = 1.0,
        adversary_weight: float = 1.0,
        epochs: int = 3,
        batch_size: int = 64,
        lr: float = 5e-4,
    ) -> None:
        if latent_dim < 1 or epochs < 1 or batch_size < 2 or not lr > 0 or beta < 0 or adversary_weight < 0:
            raise ConfigError(
                "vaal needs latent_dim >= 1, epochs >= 1, batch_size >= 2, lr > 0, beta >= 0 and "
                "adversary_weight >= 0"
            )
        self.options = {
            "latent_dim": int(latent_dim),
            "beta": float(beta),
            "adversary_weight": float(adversary_weight),
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "lr": float(lr),
        }

    def evidence_options(self) -> dict[str, dict]:
        return {"vaal_scores": dict(self.options)}

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        return top_k(evidence, _scores(evidence, "vaal_scores"), budget, rng)
