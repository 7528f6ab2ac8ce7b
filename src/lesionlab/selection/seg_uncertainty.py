"""Segmentation active learning (the Fig. 2 baselines of Zhao et al. 2022, "Self-supervised Assisted
Active Learning for Skin Lesion Segmentation"): pixel maps reduced to one score per image.

The strategy contract stays: a strategy sees one number per image. The providers here ask the
segmentation trainer for pixel-level evidence and reduce it per image batch by batch (no (T, N, H, W)
array is ever held): mean pixel entropy, MC-dropout mutual information (BALD per pixel, averaged), and
an ensemble's disagreement (per-pixel variance across members, ens-S; per-pixel Jensen-Shannon
divergence, ens-JS). CEAL (Wang et al. 2017, applied to segmentation by Gorriz et al. 2017) queries the
most uncertain images by mean pixel entropy.
"""

from __future__ import annotations

import numpy as np

from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy, top_k
from lesionlab.selection.evidence import EvidenceRequest, register_evidence

PIXEL = ("pixel_probs",)


def _segmenter(request: EvidenceRequest, kind: str):
    trainer = request.model(kind)
    if not hasattr(trainer.runtime, "pixel_uncertainty"):
        raise ConfigError(f"evidence {kind!r} reads pixel maps: use it with task: segmentation")
    return trainer


@register_evidence("pixel_uncertainty", mapping=True, outputs=PIXEL)
def pixel_uncertainty(request: EvidenceRequest) -> dict[str, np.ndarray]:
    """{"entropy", "confidence"}: (N,) mean pixel entropy and mean max(p, 1 - p) of the current model."""
    return _segmenter(request, "pixel_uncertainty").runtime.pixel_uncertainty(request.unlabeled)


@register_evidence("pixel_mutual_information", outputs=PIXEL)
def pixel_mutual_information(request: EvidenceRequest) -> np.ndarray:
    """(N,) mean over pixels of BALD from T MC-dropout decoder passes (T = experiment.mc_samples)."""
    trainer = _segmenter(request, "pixel_mutual_information")
    return trainer.runtime.pixel_uncertainty(request.unlabeled, request.settings.mc_samples)[
        "mutual_information"
    ]


def pixel_disagreement(maps: np.ndarray) -> dict[str, np.ndarray]:
    """(M, N, H, W) foreground maps of M members -> per image the mean pixel variance across members
    (ens-S) and the mean pixel Jensen-Shannon divergence, H(mean) - mean H (ens-JS)."""
    p = np.clip(np.asarray(maps, dtype=np.float64), 1e-6, 1 - 1e-6)

    def h(q: np.ndarray) -> np.ndarray:
        return -(q * np.log(q) + (1 - q) * np.log(1 - q))

    js = np.clip(h(p.mean(0)) - h(p).mean(0), 0.0, None)
    return {"variance": p.var(axis=0).mean(axis=(1, 2)), "js": js.mean(axis=(1, 2))}


@register_evidence("pixel_ensemble", mapping=True, outputs=PIXEL)
def pixel_ensemble(request: EvidenceRequest) -> dict[str, np.ndarray]:
    """{"variance", "js"}: (N,) disagreement of a committee's pixel maps (M = experiment.ensemble_size)."""
    _segmenter(request, "pixel_ensemble")
    if request.settings.ensemble is None:
        raise ConfigError("this strategy needs an ensemble, but none was configured")
    members = request.settings.ensemble()
    out: dict[str, list[np.ndarray]] = {"variance": [], "js": []}
    step = 256  # images per chunk: M maps of a chunk at a time
    for start in range(0, len(request.unlabeled), step):
        chunk = request.unlabeled[start : start + step]
        scores = pixel_disagreement(np.stack([m.predict(chunk) for m in members]))
        for k in out:
            out[k].append(scores[k])
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in out.items()}


class _ScoreStrategy(Strategy):
    """Top-k of one per-image score of one evidence kind (`key` for mapping kinds)."""

    kind: str = ""
    key: str | None = None

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        value = evidence.require(self.kind)
        scores = value[self.key] if self.key is not None else value
        return top_k(evidence, scores, budget, rng)


@register_strategy("pixel_entropy")
class PixelEntropy(_ScoreStrategy):
    """Entropy for segmentation: the highest mean pixel entropy."""

    requires = frozenset({"pixel_uncertainty"})
    kind, key = "pixel_uncertainty", "entropy"


@register_strategy("pixel_mc_dropout")
class PixelMcDropout(_ScoreStrategy):
    """MC dropout for segmentation (MCD): the highest mean pixel mutual information."""

    requires = frozenset({"pixel_mutual_information"})
    kind = "pixel_mutual_information"


@register_strategy("pixel_ens_s")
class PixelEnsS(_ScoreStrategy):
    """ens-S for segmentation: the highest mean pixel variance across the committee."""

    requires = frozenset({"pixel_ensemble"})
    kind, key = "pixel_ensemble", "variance"


@register_strategy("pixel_ens_js")
class PixelEnsJs(_ScoreStrategy):
    """ens-JS for segmentation: the highest mean pixel Jensen-Shannon divergence among members."""

    requires = frozenset({"pixel_ensemble"})
    kind, key = "pixel_ensemble", "js"


@register_strategy("ceal")
class Ceal(_ScoreStrategy):
    """CEAL (Wang et al. 2017; for segmentation Gorriz et al. 2017): query the most uncertain images by mean
    pixel entropy, and name the `pseudo` most certain of the others, which the next round trains on with
    the model's predicted masks (pseudo-labels, never bought). `pseudo: 0` is the query alone."""

    requires = frozenset({"pixel_uncertainty"})
    kind, key = "pixel_uncertainty", "entropy"
    documented_params = ({"pseudo": 0}, {"pseudo": 10})

    def __init__(self, pseudo: int = 10) -> None:
        if pseudo < 0:
            raise ConfigError(f"ceal: pseudo must be >= 0 images, got {pseudo}")
        self.pseudo = int(pseudo)

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        chosen = super().select(evidence, budget, rng)
        if not self.pseudo:
            return chosen
        entropy = np.asarray(evidence.require(self.kind)["entropy"], dtype=float)
        rest = np.flatnonzero(~np.isin(evidence.ids, chosen.ids))
        certain = rest[np.argsort(entropy[rest], kind="stable")[: self.pseudo]]
        return Selection(chosen.ids, chosen.scores, tuple(str(i) for i in evidence.ids[certain]))
