"""Compute, once per round, the evidence a strategy declared it needs; strategies never see a model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from lesionlab.data.records import Record
from lesionlab.selection.base import EVIDENCE_KINDS, Evidence, Strategy
from lesionlab.training.trainer import Trainer


def collect_evidence(
    strategy: Strategy,
    trainer: Trainer,
    unlabeled: Sequence[Record],
    labeled: Sequence[Record] = (),
    mc_samples: int = 10,
    ensemble: Callable[[], Sequence[Trainer]] | None = None,
    features: Mapping[str, np.ndarray] | None = None,
) -> Evidence:
    """Evidence for `strategy` over the unlabelled records, from the current model (and committee).

    `ensemble` is called only when the strategy needs committee probabilities (training members is
    expensive); `features` holds model-independent arrays for the whole pool, indexed like `unlabeled`.
    """
    needs = set(strategy.requires)
    unknown = needs - set(EVIDENCE_KINDS)
    if unknown:
        raise ValueError(f"strategy {strategy.name} requires unknown evidence {sorted(unknown)}")
    ids = np.array([r.id for r in unlabeled])
    evidence = Evidence(ids=ids)
    if needs & {"probs", "mc_probs", "embeddings"}:
        probs, embeddings, mc = trainer.outputs(unlabeled, mc_samples if "mc_probs" in needs else 0)
        evidence.probs = probs
        evidence.embeddings = embeddings
        if "mc_probs" in needs:
            evidence.mc_probs = mc
    if "labeled_embeddings" in needs:
        evidence.labeled_embeddings = trainer.embed(labeled)
    if "ensemble_probs" in needs:
        if ensemble is None:
            raise ValueError(f"strategy {strategy.name} needs an ensemble, but none was configured")
        evidence.ensemble_probs = np.stack([member.predict(unlabeled) for member in ensemble()])
    if "features" in needs:
        evidence.features = dict(features or {})
    evidence.__post_init__()  # re-check shapes now that the arrays are filled in
    return evidence
