"""Image features for the label audit: pooled embeddings of a backbone, per fixed augmented view.

The audit's evidence must be out of sample, so by default the features come from a backbone that never
saw the labels under audit (ImageNet weights): the classifiers fitted on them in cross-validation are
then the only thing that learns from the labels. A trained run's own trainer can be passed instead.
On the CPU fast path the frozen trunk's activations are cached per image and view (`ActivationCache`),
so features of the same images cost one pass through the last stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lesionlab.config import TrainConfig
from lesionlab.data.records import Record


def backbone_features(
    records: Sequence[Record],
    views: int = 4,
    backbone: str = "efficientnet_lite0",
    weights: str = "imagenet",
    train: TrainConfig | None = None,
    cache_dir: Path | None = None,
    trainer=None,
) -> np.ndarray:
    """(V, N, D) float32 embeddings of the first `views` fixed views of every record (view 0 = plain).

    `trainer` (e.g. a trained run's) is used as it is; otherwise a `backbone` with `weights` and the
    resolution, preprocessing and frozen stages of `train` (default `TrainConfig()`) embeds the images;
    trunk activations are cached in `cache_dir` (default: the user's lesionlab cache).
    """
    if trainer is None:
        from lesionlab.data.cache import default_cache_dir
        from lesionlab.models.registry import create_classifier
        from lesionlab.training.trainer import Trainer

        # Nothing is fitted: the loss and monitor of the config's task (maybe a plugin's) do not apply.
        cfg = (train or TrainConfig()).updated(loss="auto", synthetic="none", monitor="auto")
        model = create_classifier(backbone, 2, weights, seed=0)  # the head is never used
        # None means the default cache ($LESIONLAB_CACHE or ~/.cache/lesionlab), as for `lesionlab run`
        trainer = Trainer(model, cfg, cache_dir=cache_dir or default_cache_dir())
    return trainer.runtime.view_embeddings(list(records), views).astype(np.float32)
