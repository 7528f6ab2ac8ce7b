"""Representativeness (Shi et al. 2019, "An Active Learning Approach for Reducing Annotation Cost in Skin
Lesion Analysis", section 2.1): PCA image features, LSH buckets, uniform bucket sampling.

Shi et al.'s dual-criteria selective annotation takes N_I = gamma * budget least-confident images
(informativeness, from the model) and N_R = budget - N_I images fetched uniformly across K = 10 LSH buckets
of model-independent PCA features (representativeness). The two halves are decoupled by design: the
buckets never look at the CNN, so they cover appearance modes the model has not learnt to doubt yet.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.decomposition import PCA

from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy, top_k
from lesionlab.selection.uncertainty import class_probabilities

# Shi et al. 2019: K = 10 buckets, gamma = 0.7 (the ablation's average-level choice).
DEFAULT_BUCKETS = 10
DEFAULT_GAMMA = 0.7
# Buckets computed on the fly use a fixed seed so the same pool hashes the same way in every round.
LSH_SEED = 0
# Images are downsampled in chunks so a full pool never sits in memory as float32 at full resolution.
_CHUNK = 256


def pca_features(images: np.ndarray, n_components: int = 1, size: int = 32, seed: int = 0) -> np.ndarray:
    """Project each image onto the first principal component(s) of the pool: (N, n_components).

    Reading of Shi et al.'s "first principal component of the image": every image is downsampled to
    `size` x `size` (antialiased bilinear), flattened to a pixel vector, and PCA is fitted over the whole
    pool; an image's feature is its coordinate along the pool's first principal axis (the direction of
    largest appearance variation, mostly overall brightness/colour and lesion size). This yields one scalar
    per image that LSH can bucket, which fits "map similar items into the same buckets".

    The alternative reading, a per-image PCA (e.g. the leading eigenvector of an image's own pixel or
    row covariance used as a descriptor), gives a vector that is only defined up to sign and ignores the
    pool, so it is not implemented. Downsampling first keeps the fit cheap and discards pixel noise that
    should not separate two views of the same lesion. uint8 input is scaled to [0, 1]; floats are used as
    given (bucketing by quantiles is scale-invariant, so the choice does not change the buckets).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got shape {images.shape}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    n = len(images)
    if not 1 <= n_components <= min(n, size * size * 3):
        raise ValueError(f"n_components must be in [1, min(N, 3 * size**2)], got {n_components} for N={n}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    rows = []
    for start in range(0, n, _CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + _CHUNK])).float() / scale
        small = torch.nn.functional.interpolate(
            chunk.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        rows.append(small.reshape(len(chunk), -1).numpy())
    flat = np.concatenate(rows).astype(np.float64)
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
    return pca.fit_transform(flat)


def lsh_buckets(features: np.ndarray, n_buckets: int = DEFAULT_BUCKETS, seed: int = 0) -> np.ndarray:
    """Hash each row into one of `n_buckets` buckets so near neighbours share a bucket: (N,) ints.

    Random-projection LSH with data-adaptive bucket edges: rows are projected onto one random Gaussian
    direction (2-stable, so close rows get close projections; for 1-D features, the paper's default, this
    is just a rescaling and the method reduces to binning the principal component itself), then the
    projections are cut into equal-frequency bins by rank. Quantile edges, rather than the fixed width of
    p-stable LSH, guarantee every bucket is populated (~N/K members each when N >= K) so uniform sampling
    across buckets really spreads over the pool. Equal values share a bucket (ties take the lowest rank);
    two near neighbours are split only when a bucket edge falls between them.
    """
    features = np.asarray(features, dtype=float)
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2 or not np.all(np.isfinite(features)):
        raise ValueError(f"features must be a finite (N, D) array, got shape {features.shape}")
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, (int, np.integer)) or n_buckets < 1:
        raise ValueError(f"n_buckets must be an integer >= 1, got {n_buckets!r}")
    n = len(features)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    direction = np.random.default_rng(seed).normal(size=features.shape[1])
    projection = features @ direction
    ranks = rankdata(projection, method="min") - 1  # 0-based; ties share the lowest rank
    return (ranks.astype(np.int64) * int(n_buckets)) // n


def uniform_bucket_sample(
    buckets: np.ndarray, budget: int, rng: np.random.Generator, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Positions of `budget` items drawn uniformly across buckets, in draw order.

    Round-robin over the non-empty buckets in one random order, taking a random unused member each turn
    and skipping buckets that run out, so every bucket gets floor or ceil of its fair share and the
    quotas add up to `budget` exactly whenever that many items are available (otherwise all of them are
    returned). `exclude` is a boolean mask of positions that must not be drawn (e.g. already selected).
    """
    buckets = np.asarray(buckets)
    if buckets.ndim != 1:
        raise ValueError(f"buckets must be a 1-D array, got shape {buckets.shape}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise ValueError(f"budget must be an integer >= 0, got {budget!r}")
    available = np.ones(len(buckets), dtype=bool)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != buckets.shape:
            raise ValueError(f"exclude must be a mask of shape {buckets.shape}, got {exclude.shape}")
        available = ~exclude
    positions = np.flatnonzero(available)
    if budget == 0 or len(positions) == 0:
        return np.zeros(0, dtype=np.int64)
    _, bucket = np.unique(buckets[positions], return_inverse=True)
    bucket = bucket.ravel()
    # Shuffle the members, then number each one within its bucket: its round in the round-robin.
    shuffled = rng.permutation(len(positions))
    positions, bucket = positions[shuffled], bucket[shuffled]
    stable = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    round_no = np.empty(len(positions), dtype=np.int64)
    round_no[stable] = np.arange(len(positions)) - np.repeat(starts, counts)
    # Within a round, buckets take turns in one random order fixed for the whole draw.
    turn = rng.permutation(len(counts))[bucket]
    order = np.lexsort((turn, round_no))
    return positions[order[:budget]].astype(np.int64)


def informative_count(budget: int, gamma: float) -> int:
    """N_I = gamma * budget rounded half up (not Python's half-to-even), so 0.5 * 5 gives 3, not 2."""
    return min(budget, math.floor(gamma * budget + 0.5 + 1e-9))


def _pool_buckets(evidence: Evidence, n_buckets: int) -> np.ndarray:
    """Precomputed `features["lsh_bucket"]` if the runner cached one, else LSH of `features["pca"]`."""
    features = evidence.require("features")
    if "lsh_bucket" in features:
        buckets = np.asarray(features["lsh_bucket"])
        if buckets.ndim != 1 or not np.issubdtype(buckets.dtype, np.integer):
            raise ValueError(f"features['lsh_bucket'] must be a 1-D integer array, got {buckets.dtype}")
        return buckets
    if "pca" not in features:
        raise ValueError("this strategy needs features 'lsh_bucket' or 'pca'; the collector provided neither")
    return lsh_buckets(features["pca"], n_buckets=n_buckets, seed=LSH_SEED)


class _DualCriteriaBase(Strategy):
    """Shared selection: top N_I by least confidence, then N_R uniformly across LSH buckets of the rest."""

    def __init__(self, gamma: float, n_buckets: int, n_components: int = 1) -> None:
        # Parameters arrive from configs and the command line, so bad ones are the user's to fix.
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= gamma <= 1.0:
            raise ConfigError(f"gamma must be a number in [0, 1], got {gamma!r}")
        if isinstance(n_buckets, bool) or not isinstance(n_buckets, (int, np.integer)) or n_buckets < 1:
            raise ConfigError(f"n_buckets must be an integer >= 1, got {n_buckets!r}")
        if (
            isinstance(n_components, bool)
            or not isinstance(n_components, (int, np.integer))
            or n_components < 1
        ):
            raise ConfigError(f"n_components must be an integer >= 1, got {n_components!r}")
        self.gamma = float(gamma)
        self.n_buckets = int(n_buckets)
        # PCA components of the pool features hashed for this strategy (Shi et al. 2019: the first).
        self.n_components = int(n_components)

    def evidence_options(self) -> dict[str, dict[str, Any]]:
        """The pool features are fitted with this strategy's components and buckets."""
        return {"features": {"n_components": self.n_components, "n_buckets": self.n_buckets}}

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = min(check_budget(budget), len(evidence.ids))
        n_informative = informative_count(budget, self.gamma)
        # Fetch everything first so missing evidence fails even when one half would be empty.
        uncertainty = None
        if "probs" in self.requires:
            uncertainty = 1.0 - class_probabilities(evidence, "probs", ndim=2).max(axis=1)
        buckets = _pool_buckets(evidence, self.n_buckets)

        taken = np.zeros(len(evidence.ids), dtype=bool)
        picked, scores = [], []
        if n_informative > 0 and uncertainty is not None:
            # Rank positions rather than ids, so the picks can be masked out of the representative draw.
            positions = Evidence(ids=np.arange(len(evidence.ids)))
            informative = top_k(positions, uncertainty, n_informative, rng)
            taken[informative.ids] = True
            picked.append(informative.ids)
            scores.append(informative.scores)
        representative = uniform_bucket_sample(buckets, budget - int(taken.sum()), rng, exclude=taken)
        picked.append(representative)
        # Uncertainties are >= 0, so negative draw order ranks every representative pick after them.
        scores.append(-1.0 - np.arange(len(representative), dtype=float))
        order = np.concatenate(picked)
        return Selection(ids=evidence.ids[order], scores=np.concatenate(scores))


@register_strategy("dual_criteria")
class DualCriteria(_DualCriteriaBase):
    """Shi et al.'s selective annotation: gamma of the budget by least confidence, the rest by PCA-LSH.

    Buckets come from `evidence.features["lsh_bucket"]` when the runner precomputed them for the pool
    (computed once, cached), else from `lsh_buckets(features["pca"], n_buckets, seed=LSH_SEED)` over the
    rows given, so the quantile edges then follow the current unlabelled pool rather than the whole pool.
    Informative picks score 1 - max prob; representative picks score -1, -2, ... in draw order.
    """

    requires = frozenset({"probs", "features"})
    # docs/methods.md: Shi et al.'s setting and the range of its Fig. 3b.
    documented_params = (
        {"gamma": 0.7, "n_buckets": 10, "n_components": 1},
        {"gamma": 0.3, "n_buckets": 10, "n_components": 1},
        {"gamma": 0.9, "n_buckets": 10, "n_components": 1},
    )

    def __init__(
        self, gamma: float = DEFAULT_GAMMA, n_buckets: int = DEFAULT_BUCKETS, n_components: int = 1
    ) -> None:
        super().__init__(gamma, n_buckets, n_components)


@register_strategy("pca_lsh")
class PcaLsh(_DualCriteriaBase):
    """Representativeness alone (dual_criteria with gamma = 0): needs no model, usable for a cold start."""

    requires = frozenset({"features"})
    documented_params = ({"n_buckets": 10, "n_components": 1},)

    def __init__(self, n_buckets: int = DEFAULT_BUCKETS, n_components: int = 1) -> None:
        super().__init__(0.0, n_buckets, n_components)
