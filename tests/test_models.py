"""Backbones: offline Lite0 weights, the stage split, local weight files, the hub path and checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from lesionlab.errors import ConfigError
from lesionlab.models.efficientnet_lite import (
    LITE0_DEPTHS,
    load_offline_lite0,
    offline_weights_path,
    rename_to_timm,
)
from lesionlab.models.registry import (
    _timm_model,
    available_backbones,
    create_classifier,
    load_lesionlab_checkpoint,
    save_checkpoint,
)

pytestmark = pytest.mark.usefixtures("offline_single_thread")


def _x(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _timm_resnet18_state(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    torch.save(state, path)
    return state


def _resnet_key(key: str) -> str | None:
    """Name in a LesionClassifier of a key of timm's resnet18 (None for its ImageNet classifier)."""
    module, rest = key.split(".", 1)
    if module == "fc":
        return None
    if module.startswith("layer"):
        return f"stages.{int(module[5:]) - 1}.{rest}"
    return {"conv1": "stem.0", "bn1": "stem.1"}[module] + f".{rest}"


# ------------------------------------------------------------------------ offline EfficientNet-Lite0


def test_offline_lite0_weights_cover_timm_model_exactly() -> None:
    state = torch.load(offline_weights_path(), map_location="cpu", weights_only=True)
    renamed = rename_to_timm(state)
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    assert set(renamed) == set(reference)
    for key, value in renamed.items():
        assert value.shape == reference[key].shape, key


def test_offline_lite0_reproduces_timm_forward() -> None:
    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    load_offline_lite0(ref)  # strict: raises on any missing or unexpected key
    ref.eval()
    clf = create_classifier("efficientnet_lite0", 2, "imagenet").eval()
    x = _x(size=96)
    with torch.no_grad():
        out = clf.forward_all(x)
        expected_logits = ref((x - 0.5) / 0.5)  # Lite0 expects inputs in [-1, 1]
        expected_embedding = ref.forward_head(ref.forward_features((x - 0.5) / 0.5), pre_logits=True)
        logits = ref.classifier(out.embedding)
    torch.testing.assert_close(out.embedding, expected_embedding, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-4, atol=1e-4)
    # The ImageNet weights are really there: the trunk differs from a random initialisation.
    random = create_classifier("efficientnet_lite0", 2, "none")
    assert not torch.equal(random.stem[0].weight, clf.stem[0].weight)


def test_rename_to_timm_first_block_without_expansion() -> None:
    t = torch.zeros(1)
    renamed = rename_to_timm(
        {
            "_conv_stem.weight": t,
            "_bn0.running_mean": t,
            "_blocks.0._depthwise_conv.weight": t,
            "_blocks.0._bn1.bias": t,
            "_blocks.0._project_conv.weight": t,
            "_blocks.0._bn2.running_var": t,
            "_conv_head.weight": t,
            "_bn1.weight": t,
            "_fc.bias": t,
        }
    )
    assert set(renamed) == {
        "conv_stem.weight",
        "bn1.running_mean",
        "blocks.0.0.conv_dw.weight",
        "blocks.0.0.bn1.bias",
        "blocks.0.0.conv_pw.weight",
        "blocks.0.0.bn2.running_var",
        "conv_head.weight",
        "bn2.weight",
        "classifier.bias",
    }


def test_rename_to_timm_later_blocks() -> None:
    t = torch.zeros(1)
    # Flat block 3 is the first block of stage 2 (depths 1, 2, 2, ...); flat block 15 is the last one.
    renamed = rename_to_timm(
        {
            "_blocks.3._expand_conv.weight": t,
            "_blocks.3._bn0.weight": t,
            "_blocks.3._depthwise_conv.weight": t,
            "_blocks.3._bn1.running_mean": t,
            "_blocks.3._project_conv.weight": t,
            "_blocks.3._bn2.bias": t,
            "_blocks.15._project_conv.weight": t,
            "_blocks.2._expand_conv.weight": t,
        }
    )
    assert set(renamed) == {
        "blocks.2.0.conv_pw.weight",
        "blocks.2.0.bn1.weight",
        "blocks.2.0.conv_dw.weight",
        "blocks.2.0.bn2.running_mean",
        "blocks.2.0.conv_pwl.weight",
        "blocks.2.0.bn3.bias",
        "blocks.6.0.conv_pwl.weight",
        "blocks.1.1.conv_pw.weight",
    }
    with pytest.raises(KeyError):
        rename_to_timm({f"_blocks.{sum(LITE0_DEPTHS)}._bn0.weight": t})


# ------------------------------------------------------------------------ the stage split


@pytest.mark.parametrize(("name", "n_stages", "dim"), [("efficientnet_lite0", 7, 1280), ("resnet18", 4, 512)])
def test_create_classifier_shapes(name: str, n_stages: int, dim: int) -> None:
    clf = create_classifier(name, 3, "none").eval()
    assert clf.num_stages == n_stages and clf.embed_dim == dim and clf.backbone_name == name
    with torch.no_grad():
        out = clf.forward_all(_x(batch=2, size=64))
        logits = clf(_x(batch=2, size=64))
    assert out.logits.shape == (2, 3)
    assert out.embedding.shape == (2, dim)
    assert len(out.taps) == n_stages
    assert all(tap.shape[0] == 2 and tap.ndim == 4 for tap in out.taps)
    torch.testing.assert_close(logits, out.logits)


@pytest.mark.parametrize(("name", "cuts"), [("efficientnet_lite0", [0, 1, 3, 5, 6]), ("resnet18", [0, 2, 3])])
def test_trunk_then_tail_equals_full_forward(name: str, cuts: list[int]) -> None:
    torch.manual_seed(0)
    clf = create_classifier(name, 2, "none").eval()
    x = _x(batch=3, size=64)
    with torch.no_grad():
        full = clf.forward_all(x)
        for k in cuts:
            tail = clf.run_tail(clf.run_trunk(x, k), k)
            torch.testing.assert_close(tail.logits, full.logits, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(tail.embedding, full.embedding, rtol=1e-5, atol=1e-5)
            assert len(tail.taps) == clf.num_stages - k
            for got, want in zip(tail.taps, full.taps[k:], strict=True):
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # The trunk modules are exactly the stem and the first k stages.
    assert clf.trunk_modules(2) == [clf.stem, clf.stages[0], clf.stages[1]]


def test_create_classifier_seed_fixes_the_head_whatever_the_global_state() -> None:
    torch.manual_seed(1)
    a = create_classifier("resnet18", 2, "none", seed=7)
    after_a = torch.rand(1)
    torch.manual_seed(1)
    torch.rand(100)  # a different global state
    b = create_classifier("resnet18", 2, "none", seed=7)
    c = create_classifier("resnet18", 2, "none", seed=8)
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), key
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(1), after_a)  # seeding did not consume the global generator


# ------------------------------------------------------------------------ errors


def test_unknown_backbone_lists_choices() -> None:
    with pytest.raises(ConfigError, match="unknown backbone") as err:
        create_classifier("resnet_18_typo", 2, "none")
    for name in available_backbones():
        assert name in str(err.value)
    assert "efficientnet_lite0" in available_backbones() and "resnet18" in available_backbones()


def test_missing_weights_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_weights.pt"
    with pytest.raises(ConfigError) as err:
        create_classifier("resnet18", 2, missing)
    assert str(missing) in str(err.value)


def test_too_few_classes() -> None:
    with pytest.raises(ConfigError, match="at least 2 classes"):
        create_classifier("resnet18", 1, "none")


def test_weights_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "weights.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="not a PyTorch checkpoint") as err:
        create_classifier("resnet18", 2, bad)
    assert str(bad) in str(err.value)


# ------------------------------------------------------------------------ local weight files


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "module_prefix"])
def test_local_backbone_file_is_loaded(tmp_path: Path, wrap: str) -> None:
    path = tmp_path / "resnet18.pth"
    state = _timm_resnet18_state(path, seed=3)
    if wrap == "state_dict":
        torch.save({"state_dict": state, "epoch": 3}, path)
    elif wrap == "module_prefix":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    torch.manual_seed(99)  # so a silently skipped load would not match by accident
    clf = create_classifier("resnet18", 3, path)
    own = clf.state_dict()
    compared = 0
    for key, value in state.items():
        mapped = _resnet_key(key)
        if mapped is None:
            continue
        assert torch.equal(own[mapped], value), key
        compared += 1
    assert compared == len([k for k in state if not k.startswith("fc.")])
    assert clf.classifier.weight.shape == (3, 512)  # the ImageNet head is replaced


def test_lite0_file_in_efficientnet_pytorch_naming(tmp_path: Path) -> None:
    from_file = create_classifier("efficientnet_lite0", 2, offline_weights_path())
    packaged = create_classifier("efficientnet_lite0", 2, "imagenet")
    trunk_a = {k: v for k, v in from_file.state_dict().items() if not k.startswith("classifier.")}
    trunk_b = {k: v for k, v in packaged.state_dict().items() if not k.startswith("classifier.")}
    assert trunk_a.keys() == trunk_b.keys()
    assert all(torch.equal(trunk_a[k], trunk_b[k]) for k in trunk_a)


def test_file_for_another_backbone_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "lite0.pth"
    torch.save(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict(), path)
    with pytest.raises(ConfigError, match="another backbone") as err:
        create_classifier("resnet18", 2, path)
    assert str(path) in str(err.value)


def test_hub_code_path_with_a_local_file(tmp_path: Path) -> None:
    path = tmp_path / "resnet18_hub.pth"
    state = _timm_resnet18_state(path, seed=5)
    torch.manual_seed(123)
    model = _timm_model("resnet18", pretrained=True, pretrained_file=str(path))
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


# ------------------------------------------------------------------------ lesionlab checkpoints


def test_checkpoint_round_trip_restores_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_classifier("resnet18", 3, "none")
    with torch.no_grad():  # make every tensor, buffers included, differ from a fresh model
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor) * 0.1)
    model.eval()
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(model, path, {"classes": ["a", "b", "c"]})
    assert path.is_file() and not path.with_suffix(".pt.tmp").exists()

    torch.manual_seed(1)
    restored = create_classifier("resnet18", 3, path).eval()
    x = _x(batch=2, size=64)
    with torch.no_grad():
        torch.testing.assert_close(restored(x), model(x), rtol=0, atol=0)

    fresh = create_classifier("resnet18", 3, "none")
    meta = load_lesionlab_checkpoint(fresh, path)
    assert meta == {"backbone": "resnet18", "num_classes": 3, "classes": ["a", "b", "c"]}

    # Another class count: the trunk is restored, the head stays fresh.
    two = create_classifier("resnet18", 2, path).eval()
    with torch.no_grad():
        torch.testing.assert_close(two.forward_all(x).embedding, model.forward_all(x).embedding)
    assert two.classifier.weight.shape == (2, 512)


def test_checkpoint_of_another_backbone_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(create_classifier("resnet18", 2, "none"), path)
    with pytest.raises(ConfigError, match="does not match backbone efficientnet_lite0"):
        create_classifier("efficientnet_lite0", 2, path)
    # Same backbone, other layer shapes (a checkpoint edited or saved by other code): still a ConfigError.
    obj = torch.load(path, weights_only=True)
    obj["model_state"]["stages.0.0.conv1.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(obj, path)
    with pytest.raises(ConfigError, match="does not match backbone resnet18"):
        create_classifier("resnet18", 2, path)
