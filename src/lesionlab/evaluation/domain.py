"""How far new images lie from the images a model was trained on: the domain check of
`lesionlab project init --from-run`.

A model trained elsewhere is a good start for a clinic only if the clinic's images look like the ones it
learned from. Both figures compare the model's own pooled embeddings (the input of its classifier layer):

- **Classifier two-sample test** (Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample Tests"): the
  cross-validated AUC of a logistic regression that tells a training image from a new one. 0.5 means the
  two sets cannot be told apart; 1.0 means every image betrays which set it is from.
- **Outlier share**: the fraction of new images whose nearest training embedding (cosine distance) is
  farther than the 95th percentile of the training images' own leave-one-out nearest-neighbour distances,
  a reference quantile in the manner of conformal prediction (Vovk et al. 2005, "Algorithmic Learning in a
  Random World"): about 5 % when the new images come from the same distribution.

`lesionlab train` keeps a random sample of its training images' embeddings (`SUMMARY_FILE` in the run
folder) so the check needs neither the training images nor their labels later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.errors import ConfigError

SUMMARY_FILE = "train_embeddings.npz"
SUMMARY_SIZE = 500  # training images kept: enough for a stable AUC, ~1 MB at float16 x 1280
NEW_SIZE = 1000  # new images compared at most (a random sample of a larger folder)
OUTLIER_QUANTILE = 0.95
# Two-sample AUC bands of the plain-language verdict (docs/annotation.md explains them).
CLOSE_BELOW, FAR_FROM = 0.65, 0.85
VERDICTS = {
    "close": "your images look like the ones the model was trained on: its predictions are a fair start",
    "shifted": "your images differ somewhat from the model's training images: expect its predictions to "
    "be weaker here than on its own test set, and check them; the first `project train` adapts it",
    "far": "your images differ clearly from the model's training images: treat its predictions as a "
    "rough guess until `project train` has adapted it to your labels",
}


def sample_ids(ids: Sequence[str], size: int, seed: int = 0) -> list[int]:
    """Indices of a reproducible random sample of at most `size` of `ids` (sorted, order-independent)."""
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    rng = np.random.default_rng(seed)
    if len(order) <= size:
        return order
    return sorted(order[i] for i in rng.choice(len(order), size, replace=False))


def write_summary(
    embed: Callable[[list], np.ndarray], records: Sequence, out_dir: Path, seed: int = 0
) -> Path:
    """Embed a random sample of `records` (the run's training images) and keep it as `SUMMARY_FILE`."""
    from lesionlab.io import atomic_file

    chosen = [records[i] for i in sample_ids([r.id for r in records], SUMMARY_SIZE, seed)]
    emb = np.asarray(embed(chosen), dtype=np.float16)
    path = Path(out_dir) / SUMMARY_FILE
    with atomic_file(path) as fh:
        np.savez(fh, embeddings=emb, ids=np.array([r.id for r in chosen]))
    return path


def read_summary(path: Path) -> np.ndarray:
    """The stored embeddings (N, D) as float32; a damaged file is one line naming it."""
    try:
        with np.load(path) as data:
            emb = np.asarray(data["embeddings"], dtype=np.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}): delete it to have it recomputed") from None
    if emb.ndim != 2 or len(emb) < 10:
        raise ConfigError(f"{path} holds {emb.shape} embeddings, not a usable sample: delete it")
    return emb


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def two_sample_auc(reference: np.ndarray, new: np.ndarray, seed: int = 0) -> float:
    """Cross-validated AUC of telling `new` rows from `reference` rows (logistic regression on the
    standardised, PCA-reduced embeddings; 5 stratified folds)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.vstack([_unit(reference), _unit(new)])
    y = np.r_[np.zeros(len(reference)), np.ones(len(new))]
    folds = int(min(5, len(reference), len(new)))
    components = int(min(50, x.shape[1], len(x) * (folds - 1) // folds - 1))
    model = make_pipeline(
        StandardScaler(), PCA(components, random_state=seed), LogisticRegression(C=0.1, max_iter=2000)
    )
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, x, y, cv=cv, method="decision_function")
    return float(roc_auc_score(y, scores))


def outlier_share(reference: np.ndarray, new: np.ndarray) -> tuple[float, float]:
    """(share of `new` beyond the reference quantile, that quantile) in cosine distance."""
    ref, other = _unit(reference), _unit(new)
    within = 1.0 - ref @ ref.T
    np.fill_diagonal(within, np.inf)
    threshold = float(np.quantile(within.min(axis=1), OUTLIER_QUANTILE))
    nearest = (1.0 - other @ ref.T).min(axis=1)
    return float(np.mean(nearest > threshold)), threshold


def domain_check(reference: np.ndarray, new: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Both figures, the sample sizes and a plain-language verdict (from the two-sample AUC)."""
    if len(new) < 10:
        return {"verdict": "unknown", "text": f"only {len(new)} usable image(s): too few for a domain check"}
    auc = two_sample_auc(reference, new, seed)
    share, threshold = outlier_share(reference, new)
    verdict = "close" if auc < CLOSE_BELOW else ("shifted" if auc < FAR_FROM else "far")
    return {
        "two_sample_auc": round(auc, 4),
        "outlier_share": round(share, 4),
        "outlier_expected": round(1 - OUTLIER_QUANTILE, 4),
        "outlier_threshold": round(threshold, 6),
        "n_reference": len(reference),
        "n_new": len(new),
        "verdict": verdict,
        "text": VERDICTS[verdict],
    }
