"""The cold start's pool features see non-square images as its encoder was pre-trained on them (issue 31,
item 4, another instance: one way of turning an image into pixels per model). `lesionlab pretrain` with
`resize: center_crop` (or `pad`) trained on cropped images, but `ssl_kmeans` encoded the pool squashed,
since neither the checkpoint nor the feature code knew the resize."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.cache import ImageCache
from lesionlab.data.records import Record
from lesionlab.models.unet import create_segmenter, save_segmenter
from lesionlab.selfsup import features


@pytest.mark.parametrize("resize", ["center_crop", "pad"])
def test_pool_features_decode_the_pool_as_the_checkpoint_was_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resize: str
) -> None:
    Image.fromarray(np.full((16, 48, 3), 120, np.uint8)).save(tmp_path / "wide.png")
    ckpt = tmp_path / "model.pt"
    meta = {"backbone": "unet", "width": 4, "resolution": 16, "resize": resize}
    save_segmenter(create_segmenter("unet", "none", width=4), ckpt, meta)
    decoded_with: list[str] = []

    class Recording(ImageCache):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            decoded_with.append(self.resize)

    monkeypatch.setattr(features, "ImageCache", Recording)
    features.pool_features([Record("wide", tmp_path / "wide.png", None)], str(ckpt), cache_dir=None)
    assert decoded_with == [resize]


def test_a_checkpoint_without_a_recorded_resize_was_squashed(tmp_path: Path) -> None:
    ckpt = tmp_path / "model.pt"
    save_segmenter(
        create_segmenter("unet", "none", width=4), ckpt, {"backbone": "unet", "width": 4, "resolution": 16}
    )
    assert tuple(features.feature_model(str(ckpt))[1:]) == (16, "grayscale_minmax", "squash")
