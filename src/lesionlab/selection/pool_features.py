"""Model-independent features of the whole pool, fitted once and kept with the run: the PCA + LSH of Shi
et al. 2019, "An Active Learning Approach for Reducing Annotation Cost in Skin Lesion Analysis"."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lesionlab.data.cache import ImageCache
from lesionlab.data.records import Record
from lesionlab.io import atomic_file
from lesionlab.selection.representativeness import DEFAULT_BUCKETS, LSH_SEED, lsh_buckets, pca_features

PCA_SIZE = 32  # images are compared at 32 x 32 px: enough for colour and layout, cheap for PCA


def compute_pool_features(
    pool: Sequence[Record],
    path: Path | None,
    n_components: int = 1,
    n_buckets: int = DEFAULT_BUCKETS,
    cache_dir: Path | None = None,
    preprocessing: str = "gray_world",
    resize: str = "squash",
) -> dict[str, np.ndarray]:
    """{"pca": (N, n_components), "lsh_bucket": (N,)} for the pool, cached at `path` (an .npz) when given.

    PCA and hashing are fitted once per pool, not per round, as Shi et al. describe; buckets are then
    stable across rounds and the representative picks spread over the same partition every time.
    Images are decoded at 32 px with the run's `preprocessing`, through the image cache in `cache_dir`.
    """
    ids = np.array([r.id for r in pool])
    saved = _load_saved(path, ids, n_components, n_buckets)
    if saved is not None:
        return saved
    cache = ImageCache(cache_dir, PCA_SIZE, preprocessing, resize)
    images = cache.get_many([r.image_path for r in pool], progress=True)  # once per pool; can be minutes
    pca = pca_features(images, n_components=n_components, size=PCA_SIZE, seed=0)
    buckets = lsh_buckets(pca, n_buckets=n_buckets, seed=LSH_SEED)
    if path is not None:
        with atomic_file(path) as fh:  # a unique temporary name: runs side by side never share one
            np.savez(fh, ids=ids, pca=pca, lsh_bucket=buckets)
    return {"pca": pca, "lsh_bucket": buckets}


def _load_saved(path: Path | None, ids: np.ndarray, n_components: int, n_buckets: int) -> dict | None:
    """The features saved for this very pool and setting; a damaged or foreign file counts as missing."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            pca, buckets = saved["pca"], saved["lsh_bucket"]
            fits = (
                np.array_equal(saved["ids"], ids)
                and pca.shape == (len(ids), n_components)
                and buckets.shape == (len(ids),)
                and (len(ids) == 0 or int(buckets.max()) < n_buckets)
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return {"pca": pca, "lsh_bucket": buckets} if fits else None
