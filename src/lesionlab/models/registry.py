"""Backbones by name: `efficientnet_lite0` (offline ImageNet weights), ResNets and any timm model.

`weights` is one of `imagenet` (the offline file for `efficientnet_lite0`; the timm hub otherwise, which
needs a network), `none` (random init), or a path to a local checkpoint: a lesionlab checkpoint, or a
backbone state dict in timm/torchvision naming (or the efficientnet_pytorch naming for Lite0).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import timm
import torch
from torch import nn

from lesionlab.errors import ConfigError
from lesionlab.io import atomic_file, tensor_bytes
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.efficientnet_lite import LITE0_MEAN, LITE0_STD, load_offline_lite0, rename_to_timm

# Names with a curated stage split; any other timm name works too (with a single trunk stage).
KNOWN_BACKBONES = {
    "efficientnet_lite0": "tf_efficientnet_lite0",
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
}
_CLASSIFIER_PREFIXES = ("classifier.", "fc.", "head.fc.", "head.")


def available_backbones() -> list[str]:
    return sorted(KNOWN_BACKBONES)


def _timm_model(timm_name: str, pretrained: bool, pretrained_file: str | None = None) -> nn.Module:
    """timm's own creation path; `pretrained_file` feeds its hub loader from a local file (tests, mirrors)."""
    overlay = {"file": pretrained_file} if pretrained_file else None
    try:
        return timm.create_model(timm_name, pretrained=pretrained, pretrained_cfg_overlay=overlay)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise ConfigError(
                f"unknown backbone {timm_name!r}; choose one of {', '.join(available_backbones())} "
                "or any name from timm.list_models()"
            ) from exc
        raise
    except OSError as exc:  # hub download failed
        raise ConfigError(
            f"could not fetch ImageNet weights for {timm_name!r} from the hub ({exc}); without a network use "
            "backbone efficientnet_lite0 (offline weights), weights: none, or a local checkpoint path"
        ) from exc


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ConfigError(
            f"weights file {path} does not exist; give an existing checkpoint, 'imagenet' or 'none'"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"weights file {path} is not a PyTorch checkpoint: {exc}") from exc
    for key in ("model_state", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ConfigError(f"weights file {path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _load_backbone_file(model: nn.Module, path: Path) -> None:
    """Load a backbone state dict strictly, except for the ImageNet classifier, which is replaced anyway."""
    state = _read_state_dict(path)
    if "_conv_stem.weight" in state:
        state = rename_to_timm(state)
    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    own = {k for k in model.state_dict() if not k.startswith(_CLASSIFIER_PREFIXES)}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise ConfigError(
            f"weights file {path} does not match backbone {type(model).__name__}: "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}; "
            "was it saved for another backbone?"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ConfigError(f"weights file {path} has tensors of the wrong shape: {exc}") from exc


def _split(model: nn.Module) -> tuple[nn.Module, list[nn.Module], nn.Module, int]:
    """Stem, stages and pooled head of a timm EfficientNet/ResNet, or a one-stage wrapper of anything else."""
    if hasattr(model, "blocks") and hasattr(model, "conv_stem"):
        stem = nn.Sequential(model.conv_stem, model.bn1)
        head = nn.Sequential(model.conv_head, model.bn2, model.global_pool)
        return stem, list(model.blocks), head, model.num_features
    if all(hasattr(model, f"layer{i}") for i in range(1, 5)) and hasattr(model, "conv1"):
        stem = nn.Sequential(model.conv1, model.bn1, model.act1, model.maxpool)
        stages = [model.layer1, model.layer2, model.layer3, model.layer4]
        return stem, stages, model.global_pool, model.num_features
    return nn.Identity(), [_Features(model)], _Head(model), model.num_features


class _Features(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


class _Head(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model  # shared with _Features; parameters are deduplicated by nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(x, pre_logits=True)


def create_classifier(
    name: str,
    num_classes: int,
    weights: str | Path = "imagenet",
    dropout: float = 0.2,
    seed: int | None = None,
) -> LesionClassifier:
    """Build a backbone by name and wrap it as a `LesionClassifier` with a fresh `num_classes` head.

    With `seed`, the randomly initialised parts (the head, or everything for weights 'none') are the same
    on every call, whatever the global random state: runs and resumed runs then start identically.
    """
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return create_classifier(name, num_classes, weights, dropout, seed=None)
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
    weights = str(weights)
    timm_name = KNOWN_BACKBONES.get(name, name)
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise ConfigError(
            f"weights {weights!r} is neither 'imagenet', 'none' nor an existing checkpoint file"
        )
    lesionlab_ckpt = weights not in ("imagenet", "none") and _is_lesionlab_checkpoint(Path(weights))
    hub = weights == "imagenet" and name != "efficientnet_lite0"
    model = _timm_model(timm_name, pretrained=hub)
    if name == "efficientnet_lite0" and weights == "imagenet":
        load_offline_lite0(model)
    elif weights not in ("imagenet", "none") and not lesionlab_ckpt:
        _load_backbone_file(model, Path(weights))
    if name == "efficientnet_lite0":
        mean, std = LITE0_MEAN, LITE0_STD
    else:
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        mean, std = cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225))
    stem, stages, head, dim = _split(model)
    clf = LesionClassifier(stem, stages, head, dim, num_classes, mean, std, dropout, backbone_name=name)
    if lesionlab_ckpt:
        load_lesionlab_checkpoint(clf, Path(weights))
    return clf


def _is_lesionlab_checkpoint(path: Path) -> bool:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a text file, a truncated download...: a user error, not a traceback
        raise ConfigError(f"weights file {path} is not a PyTorch checkpoint: {exc}") from exc
    return isinstance(obj, dict) and "lesionlab" in obj


def save_checkpoint(model: LesionClassifier, path: Path, meta: dict | None = None) -> None:
    """Save weights plus what is needed to rebuild the model; written atomically, under a unique temporary
    name (two runs saving side by side must not write into one temporary file)."""
    payload = {
        "lesionlab": {"backbone": model.backbone_name, "num_classes": model.num_classes, **(meta or {})},
        "model_state": model.state_dict(),
    }
    with atomic_file(path, expected_bytes=tensor_bytes(payload["model_state"].values())) as fh:
        torch.save(payload, fh)


def load_lesionlab_checkpoint(model: LesionClassifier, path: Path) -> dict:
    """Load a lesionlab checkpoint; the classifier head is kept fresh if its class count differs."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj["model_state"]
    saved = obj["lesionlab"].get("backbone")
    if saved and model.backbone_name and saved != model.backbone_name:
        raise ConfigError(
            f"checkpoint {path} does not match backbone {model.backbone_name}: it was saved for {saved}"
        )
    if state["classifier.weight"].shape[0] != model.num_classes:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes
        raise ConfigError(f"checkpoint {path} does not match backbone {model.backbone_name}: {exc}") from exc
    bad = [k for k in missing if not k.startswith("classifier.")] + list(unexpected)
    if bad:
        raise ConfigError(f"checkpoint {path} does not match backbone {model.backbone_name}: {bad[:3]}")
    return obj["lesionlab"]


BackboneFactory = Callable[..., LesionClassifier]
