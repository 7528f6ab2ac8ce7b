"""A tiny fake ISIC 2017 tree in the official layout (`make_tiny_isic`), for tests.

Images are 32x32 JPEGs drawn from a per-image seed. Melanoma images show a large, very dark lesion and
the others a small, light-brown one on the same noisy skin background, so a model learns the task in a
few epochs at 32 px while every image still differs from every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# official name stem per split and (number of images, number of melanomas)
TINY_SPLITS = {
    "ISIC-2017_Training": (40, 16),
    "ISIC-2017_Validation": (12, 6),
    "ISIC-2017_Test_v2": (16, 8),
}
TINY_SIZE = 32


@dataclass(frozen=True)
class TinyIsic:
    root: Path
    ids: dict[str, list[str]]  # split name ("train", "val", "test") -> ids in CSV order
    labels: dict[str, int]  # id -> melanoma (1) or other (0)

    def image(self, image_id: str) -> Path:
        for stem, split in zip(TINY_SPLITS, ("train", "val", "test"), strict=True):
            if image_id in self.ids[split]:
                return self.root / f"{stem}_Data" / f"{image_id}.jpg"
        raise KeyError(image_id)


def lesion_image(seed: int, melanoma: bool, size: int = TINY_SIZE) -> Image.Image:
    """Noisy skin with a centred lesion: large and nearly black for melanoma, small and light otherwise."""
    return _lesion(seed, melanoma, size)[0]


def lesion_mask(seed: int, melanoma: bool, size: int = TINY_SIZE) -> Image.Image:
    """The lesion of `lesion_image(seed, melanoma, size)` as an ISIC-style {0, 255} mask."""
    return _lesion(seed, melanoma, size)[1]


def _lesion(seed: int, melanoma: bool, size: int) -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(seed)
    skin = np.array([205.0, 160.0, 140.0]) + rng.normal(0, 12, (size, size, 3))
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.uniform(-2, 2, 2)
    radius = size * (0.36 if melanoma else 0.18) * rng.uniform(0.9, 1.1)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    colour = np.array([45.0, 25.0, 25.0]) if melanoma else np.array([165.0, 115.0, 90.0])
    skin[inside] = colour + rng.normal(0, 8, (int(inside.sum()), 3))
    image = Image.fromarray(np.clip(skin, 0, 255).astype(np.uint8))
    return image, Image.fromarray((inside * 255).astype(np.uint8))


def make_tiny_isic(root: Path, masks: bool = False) -> TinyIsic:
    """The tiny tree; with `masks`, Part 1 lesion masks for the train and val images (as ISIC 2017)."""
    ids: dict[str, list[str]] = {}
    labels: dict[str, int] = {}
    counter = 0
    for (stem, (n, n_mel)), split in zip(TINY_SPLITS.items(), ("train", "val", "test"), strict=True):
        folder = root / f"{stem}_Data"
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["image_id,melanoma,seborrheic_keratosis"]
        ids[split] = []
        for k in range(n):
            counter += 1
            image_id = f"ISIC_{counter:07d}"
            mel = int((k + 1) * n_mel // n != k * n_mel // n)  # n_mel melanomas spread evenly
            lesion_image(counter, bool(mel)).save(folder / f"{image_id}.jpg", quality=95)
            if masks and split != "test":
                mask_dir = root / f"{stem}_Part1_GroundTruth"
                mask_dir.mkdir(exist_ok=True)
                lesion_mask(counter, bool(mel)).save(mask_dir / f"{image_id}_segmentation.png")
            lines.append(f"{image_id},{float(mel)},0.0")
            ids[split].append(image_id)
            labels[image_id] = mel
        (root / f"{stem}_Part3_GroundTruth.csv").write_text("\n".join(lines) + "\n")
    for split, (_, n_mel) in zip(("train", "val", "test"), TINY_SPLITS.values(), strict=True):
        assert sum(labels[i] for i in ids[split]) == n_mel, split
    return TinyIsic(root, ids, labels)


def tiny_train_config(**overrides: object):
    """A TrainConfig sized for the tiny images: 2 short epochs, the fast path, one thread (two threads spin
    against each other on 2 shared cores with tensors this small)."""
    from lesionlab.config import TrainConfig

    base = dict(
        epochs=2,
        batch_size=8,
        resolution=32,
        freeze_stages=5,
        views=2,
        num_threads=1,
        progress=False,
        lr=1e-3,
        patience=0,
    )
    return TrainConfig(**{**base, **overrides})
