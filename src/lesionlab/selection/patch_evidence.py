"""The `patch_probs` evidence kind of ACFT (Zhou et al. 2021, "Active, Continual Fine Tuning of
Convolutional Neural Networks for Reducing Annotation Efforts"): (N, m, C) predictions over patches.

Registered here and imported by `selection.evidence` beside the built-in providers. The strategy's
`evidence_options()` says how many patches (`patches`, default 24 = 3 scales x 8 turns/mirrors).
"""

from __future__ import annotations

import numpy as np

from lesionlab.data.patches import DEFAULT_PATCHES
from lesionlab.selection.evidence import EvidenceRequest, register_evidence


@register_evidence("patch_probs", outputs=("class_probs",))
def patch_probs(request: EvidenceRequest) -> np.ndarray:
    """(N, m, C) class probabilities of each unlabelled image's m augmented candidate patches
    (`lesionlab.data.patches`); on the fast path from the frozen trunk's cached patch activations."""
    from lesionlab.training.patch_activations import patch_probabilities

    trainer = request.model("patch_probs")
    return patch_probabilities(
        trainer, request.unlabeled, int(request.options.get("patches", DEFAULT_PATCHES))
    )
