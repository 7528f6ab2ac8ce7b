"""Shi et al. 2019's Fig. 2 (b) check: do same-class mosaics land among their class's originals in features?

Shi et al. 2019: "An Active Learning Approach for Reducing Annotation Cost in Skin Lesion Analysis" (MLMI).

If a trained model embeds 2x2 mosaics next to the ordinary images of their class, mosaics are new views
that keep the class's semantics, which is the argument for training on them (aggregative supervision).
Shi et al. embed features of the last fully connected layer before the softmax; here the pooled
embedding (the classifier's input, `Trainer.embed`) is used, the features every strategy also sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError, DataError
from lesionlab.io import atomic_file

if TYPE_CHECKING:
    from lesionlab.training.trainer import Trainer


def tsne_plot(
    embeddings_original: np.ndarray,
    labels: np.ndarray,
    embeddings_mosaic: np.ndarray,
    mosaic_labels: np.ndarray,
    class_names: Sequence[str],
    out_png: Path | str,
    seed: int = 0,
) -> Path:
    """Joint 2-D t-SNE of originals (circles) and mosaics (crosses), one colour per class; returns the PNG.

    Both sets go through one t-SNE so their positions are comparable; perplexity is min(30, (N+M-1)/3)
    so small sets still satisfy t-SNE's perplexity < number of points.
    """
    from sklearn.manifold import TSNE  # slow to import; only this function needs it

    original, labels, mosaic, mosaic_labels = _checked_points(
        embeddings_original, labels, embeddings_mosaic, mosaic_labels, len(class_names)
    )
    n_points = len(original) + len(mosaic)
    perplexity = min(30.0, (n_points - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    points = tsne.fit_transform(np.concatenate([original, mosaic]))
    fig = _scatter(points[: len(original)], labels, points[len(original) :], mosaic_labels, class_names)
    out = Path(out_png)
    with atomic_file(out) as fh:  # never a half-written PNG
        fig.savefig(fh, format="png", dpi=120)
    return out


def _checked_points(
    original: np.ndarray, labels: np.ndarray, mosaic: np.ndarray, mosaic_labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inputs as (N, D) / (M, D) floats and integer labels, refused before the slow t-SNE runs.

    Mosaic embeddings are reshaped to the originals' width, so an empty set of mosaics is accepted.
    """
    original = np.asarray(original, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if original.ndim != 2:
        raise ValueError(f"embeddings_original must be (N, D), got shape {original.shape}")
    mosaic = np.asarray(mosaic, dtype=np.float64).reshape(-1, original.shape[1])
    mosaic_labels = np.asarray(mosaic_labels).astype(np.int64).reshape(-1)
    if labels.shape != (len(original),) or mosaic_labels.shape != (len(mosaic),):
        raise ValueError("need one label per embedding, for the originals and for the mosaics")
    n_points = len(original) + len(mosaic)
    if n_points < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n_points}")
    every = np.concatenate([labels, mosaic_labels])
    if every.min() < 0 or every.max() >= n_classes:
        raise ValueError(f"labels must index class_names ({n_classes} classes)")
    return original, labels, mosaic, mosaic_labels


def _scatter(
    orig_xy: np.ndarray,
    labels: np.ndarray,
    mosaic_xy: np.ndarray,
    mosaic_labels: np.ndarray,
    class_names: Sequence[str],
) -> Figure:
    """The 2-D points drawn: hollow circles for originals, crosses for mosaics, a colour per class.

    A class with no points of a kind gets no legend entry, so the legend lists only what is drawn.
    """
    cmap = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    fig = Figure(figsize=(6.5, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles = []
    for c, name in enumerate(class_names):
        colour = cmap(c % cmap.N)
        for xy, mask, marker, kind in (
            (orig_xy, labels == c, "o", "original"),
            (mosaic_xy, mosaic_labels == c, "x", "mosaic"),
        ):
            if mask.any():
                filled = {"facecolors": "none", "edgecolors": [colour]} if marker == "o" else {"c": [colour]}
                ax.scatter(xy[mask, 0], xy[mask, 1], marker=marker, s=22, linewidths=1.0, **filled)
                face = "none" if marker == "o" else colour
                handles.append(
                    Line2D(
                        [],
                        [],
                        ls="",
                        marker=marker,
                        color=colour,
                        markerfacecolor=face,
                        label=f"{name} ({kind})",
                    )
                )
    ax.set_title(f"t-SNE of embeddings: {len(orig_xy)} originals, {len(mosaic_xy)} 2x2 mosaics")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(handles=handles, loc="best", fontsize=8, frameon=True)
    fig.tight_layout()
    return fig


def embed_plot(
    trainer: Trainer,
    dataset: LabeledDataset,
    out_png: Path | str,
    split: str = "train",
    n_images: int = 300,
    n_mosaics: int = 100,
) -> Path:
    """t-SNE of a trained model: up to `n_images` of `split` and mosaics made from them; returns the PNG.

    The images are a seeded random subset (the trainer's seed) when the split is larger; mosaics use the
    trainer's `mosaic_mode` and are embedded by the same model. The caller loads the model (for a saved
    run: `lesionlab.supervised.load_trained_run`), so evaluation never depends on how runs are stored.
    """
    from lesionlab.data.mosaic import make_mosaics

    if n_images < 2 or n_mosaics < 0:
        raise ConfigError(f"need at least 2 images and 0 or more mosaics, got {n_images} and {n_mosaics}")
    records = [r for r in dataset.split(split) if r.label is not None]
    if len(records) < 2:
        raise DataError(
            f"{dataset.name} has fewer than 2 labelled {split!r} images; choose train, val or test"
        )
    seed = trainer.config.seed
    rng = np.random.default_rng(seed)
    if len(records) > n_images:
        records = [records[i] for i in np.sort(rng.choice(len(records), n_images, replace=False))]
    labels = np.array([r.label for r in records], dtype=np.int64)
    embeddings = trainer.embed(records)
    images = trainer.images.get_many([r.image_path for r in records])
    mosaics, mosaic_labels, _ = make_mosaics(images, labels, n_mosaics, rng, mode=trainer.config.mosaic_mode)
    mosaic_embeddings = trainer.runtime.embed_arrays(mosaics)
    return tsne_plot(
        embeddings, labels, mosaic_embeddings, mosaic_labels, dataset.classes, out_png, seed=seed
    )
