"""The cold start of Zhao et al. 2022, "Self-supervised Assisted Active Learning for Skin Lesion
Segmentation" (Sec. III-B): k-means on self-supervised features.

Features are the last encoder stage of a U-Net (the `lesionlab pretrain` checkpoint; ImageNet Lite0's
encoder when none is given), adaptive-average-pooled to `pool` x `pool` and flattened (512 x 2 x 2 =
2048-d for the paper's U-Net). k-means splits the pool into `k` clusters; cluster i of N_i images gets
N_Ci = ceil(C N_i / N) of the C picks (trimmed to exactly C, see `cluster_quotas`), taken as the images
nearest its centroid (L2). The features need no labels and no round's model, so the strategy can pick
the initial set of any experiment (classification too) and serve as a per-round criterion.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from lesionlab.data.fingerprint import content_key
from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy
from lesionlab.selection.evidence import EvidenceRequest, register_evidence


def cluster_quotas(sizes: np.ndarray, total: int) -> np.ndarray:
    """Picks per cluster: ceil(total * N_i / N) (the paper's N_Ci), trimmed to sum to exactly `total`.

    The ceilings overshoot by fewer than k picks; one pick is taken back from each of the clusters whose
    ceiling rounded up the most (largest ceil - exact share; ties: the larger cluster keeps its pick), so
    every quota stays within one of its exact proportional share and never exceeds its cluster's size.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = int(sizes.sum())
    if total < 0 or total > n:
        raise ValueError(f"cannot pick {total} images from clusters holding {n}")
    exact = total * sizes / max(n, 1)
    quotas = np.array([math.ceil(total * int(s) / max(n, 1)) for s in sizes], dtype=np.int64)
    excess = int(quotas.sum()) - total
    if excess > 0:
        order = np.lexsort((sizes, -(quotas - exact)))  # most rounded-up first, then smaller clusters
        quotas[order[:excess]] -= 1
    return np.minimum(quotas, sizes)


def kmeans_picks(
    features: np.ndarray, budget: int, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices picked (cluster by cluster, nearest its centroid first) and their distances."""
    from sklearn.cluster import KMeans

    x = np.asarray(features, dtype=np.float64)
    k = min(k, len(x))
    km = KMeans(n_clusters=k, n_init=10, random_state=int(rng.integers(2**31 - 1))).fit(x)
    labels = km.labels_
    sizes = np.bincount(labels, minlength=k)
    quotas = cluster_quotas(sizes, budget)
    picked, dist = [], []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        d = np.linalg.norm(x[members] - km.cluster_centers_[c], axis=1)
        near = np.argsort(d, kind="stable")[: quotas[c]]
        picked.append(members[near])
        dist.append(d[near])
    return np.concatenate(picked), np.concatenate(dist)


@register_strategy("ssl_kmeans")
class SslKmeans(Strategy):
    """Representative picks: k-means clusters of SSL features, each cluster in proportion to its size.

    `checkpoint`: a `lesionlab pretrain` model (the paper) or "imagenet" (Lite0's encoder, no pretraining);
    `pool`: 2 gives the paper's 512 x 2 x 2 features, 1 its 512 x 1 x 1 ablation; `k`: clusters (10; 5 in
    Table II).
    """

    requires = frozenset({"ssl_features"})
    documented_params = ({"k": 10, "pool": 2}, {"k": 5, "pool": 1})

    def __init__(self, k: int = 10, pool: int = 2, checkpoint: str = "imagenet") -> None:
        if k < 1 or pool < 1:
            raise ConfigError(f"ssl_kmeans needs k >= 1 and pool >= 1, got k={k}, pool={pool}")
        self.k, self.pool, self.checkpoint = int(k), int(pool), str(checkpoint)

    def evidence_options(self) -> dict[str, dict[str, object]]:
        return {"ssl_features": {"pool": self.pool, "checkpoint": self.checkpoint}}

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = min(check_budget(budget), len(evidence.ids))
        rows, dist = kmeans_picks(evidence.require("ssl_features"), budget, self.k, rng)
        # Higher score = more representative: the negative distance to the cluster's centroid; listed
        # nearest first, as every selection ranks its ids.
        order = np.argsort(dist, kind="stable")
        return Selection(ids=evidence.ids[rows[order]], scores=-dist[order])


def _checkpoint_tag(path: Path) -> str:
    """The checkpoint's content hash; its resolved path when it cannot be read (loading it then says why)."""
    try:
        return content_key(path)
    except OSError:
        return str(path.resolve())


@register_evidence("ssl_features", needs_model=False)
def ssl_features(request: EvidenceRequest) -> np.ndarray:
    """(N, C * pool^2) pooled last-stage features of a fixed encoder (a `lesionlab pretrain` checkpoint or
    ImageNet Lite0's), computed once per pool and setting and kept with the run."""
    from lesionlab.selfsup.features import pool_features

    pool = int(request.options.get("pool", 2))
    checkpoint = str(request.options.get("checkpoint", "imagenet"))
    key = ("ssl_features", pool, checkpoint)
    memo = request.settings.memo
    if key not in memo:
        workdir = request.settings.workdir
        # One file per checkpoint *content*: a checkpoint re-trained in place must not reuse old features.
        tag = checkpoint if checkpoint == "imagenet" else _checkpoint_tag(Path(checkpoint))
        name = f"ssl_features_pool{pool}_{hashlib.sha1(tag.encode()).hexdigest()[:12]}.npz"
        memo[key] = pool_features(
            request.pool,
            checkpoint,
            pool,
            None if workdir is None else workdir / name,
            cache_dir=request.settings.image_options.get("cache_dir"),
        )
    index = {r.id: i for i, r in enumerate(request.pool)}
    return memo[key][np.array([index[r.id] for r in request.unlabeled], dtype=int)]
