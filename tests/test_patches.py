"""ACFT's candidate patches: the paper's recipe, seeded and fixed, and their cached trunk activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

import lesionlab.training.activations as act_mod
from fake_isic import tiny_train_config
from lesionlab.data.patches import DEFAULT_PATCHES, candidate_patches, patch_plan
from lesionlab.data.records import Record
from lesionlab.models.registry import create_classifier
from lesionlab.training.activations import activation_key, clear_memory
from lesionlab.training.patch_activations import patch_probabilities
from lesionlab.training.trainer import Trainer


def asymmetric(n: int = 3, size: int = 24) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_default_is_the_papers_24_patches() -> None:
    assert DEFAULT_PATCHES == 24
    plan = patch_plan(24, 0, "img")
    combos = {(round(p[0], 4), p[3]) for p in plan}
    # f in {1.0, 1.2, 1.5} with the whole image as 1.5, each under the 8 turns/mirrors: all 24 combinations.
    assert combos == {(round(f / 1.5, 4), e) for f in (1.0, 1.2, 1.5) for e in range(8)}
    # Fewer patches still span the scales: 12 = 3 scales x the 4 quarter turns.
    small = {(round(p[0], 4), p[3]) for p in patch_plan(12, 0, "img")}
    assert small == {(round(f / 1.5, 4), e) for f in (1.0, 1.2, 1.5) for e in range(4)}


def test_patch0_is_the_image_and_the_whole_image_patches_are_its_turns_and_mirrors() -> None:
    images = asymmetric()
    patches = candidate_patches(images, 24, seed=0)
    np.testing.assert_array_equal(patches[0], images)
    for i in range(len(images)):
        expected = [np.rot90(images[i], k) for k in range(4)]
        expected += [e[:, ::-1] for e in expected]
        whole = [j for j, p in enumerate(patch_plan(24, 0, i)) if p[0] == 1.0]
        assert len(whole) == 8
        for element, j in enumerate(whole):
            np.testing.assert_array_equal(patches[j, i], expected[element])
        assert len({p.tobytes() for p in patches[:, i]}) == 24


def test_crops_match_torchvision_resized_crop_within_the_shift() -> None:
    images = asymmetric(2, 30)
    patches = candidate_patches(images, 24, seed=4, keys=["a", "b"])
    for i, key in enumerate(["a", "b"]):
        for j, (frac, dy, dx, element) in enumerate(patch_plan(24, 4, key)):
            assert abs(dy) <= 0.1 * frac + 1e-12 and abs(dx) <= 0.1 * frac + 1e-12
            if frac == 1.0 or element:
                continue
            ch = round(frac * 30)
            top, left = round((30 - ch) / 2 + dy * 30), round((30 - ch) / 2 + dx * 30)
            chw = torch.from_numpy(images[i]).permute(2, 0, 1)
            ref = F.resized_crop(chw, top, left, ch, ch, [30, 30], antialias=True).permute(1, 2, 0).numpy()
            np.testing.assert_array_equal(patches[j, i], ref)


def test_seeded_by_key_not_by_batch_order_or_m() -> None:
    images = asymmetric(4)
    keys = ["k0", "k1", "k2", "k3"]
    full = candidate_patches(images, 24, seed=1, keys=keys)
    again = candidate_patches(images[[2, 0]], 10, seed=1, keys=["k2", "k0"])
    np.testing.assert_array_equal(again[:, 0], full[:10, 2])
    np.testing.assert_array_equal(again[:, 1], full[:10, 0])
    other_seed = candidate_patches(images, 24, seed=2, keys=keys)
    assert not np.array_equal(other_seed[1::3], full[1::3])
    np.testing.assert_array_equal(other_seed[::3], full[::3])  # whole-image patches have no room to move


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        (np.zeros((2, 8, 9, 3), np.uint8), {}, "square"),
        (np.zeros((2, 8, 8, 3), np.float32), {}, "uint8"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"n_patches": 0}, "at least one"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"keys": ["a"]}, "keys"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"shift": 1.0}, "shift"),
    ],
)
def test_bad_inputs(images: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        candidate_patches(images, **kwargs)


@pytest.fixture
def records(tmp_path: Path) -> list[Record]:
    out = []
    for i, arr in enumerate(asymmetric(3, 32)):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(arr).save(path)
        out.append(Record(id=f"img{i}", image_path=path, label=i % 2, split="train"))
    return out


def test_patch_probs_fast_path_equals_the_whole_network_and_is_cached(
    records: list[Record], tmp_path: Path, offline_single_thread: None
) -> None:
    model = create_classifier("efficientnet_lite0", 2, "none", seed=0)
    cache = tmp_path / "cache"
    fast = Trainer(model, tiny_train_config(), cache_dir=cache)
    probs = patch_probabilities(fast, records, 8)
    assert probs.shape == (3, 8, 2)
    entries = sorted((cache / "activations").glob("*_patches/*.npy"))
    assert len(entries) == 3 * 8
    # Once on disk, the patches leave memory: a pool's N x m entries are never all held at once.
    assert not any(v for tag, v in act_mod._SHARED_MEMORY.items() if tag.endswith("_patches"))
    # The whole network on the same patches gives the same probabilities (float16 activations aside).
    full = Trainer(model, tiny_train_config(freeze_stages=0), cache_dir=None)
    images = full.images.get_many([r.image_path for r in records])
    keys = [activation_key(r.image_path) for r in records]
    patches = candidate_patches(images, 8, 0, keys=keys)
    model.eval()
    with torch.inference_mode():
        for j in range(8):
            x = torch.from_numpy(patches[j]).permute(0, 3, 1, 2).float().div(255)
            np.testing.assert_allclose(probs[:, j], torch.softmax(model(x), 1).numpy(), atol=2e-3)
    np.testing.assert_allclose(patch_probabilities(full, records, 8), probs, atol=2e-3)
    # A new process reads the entries instead of computing them, and fewer patches reuse them.
    clear_memory()
    for entry in entries:
        entry.touch()
    mtimes = [e.stat().st_mtime_ns for e in entries]
    np.testing.assert_array_equal(patch_probabilities(fast, records, 4), probs[:, :4])
    assert [e.stat().st_mtime_ns for e in entries] == mtimes
