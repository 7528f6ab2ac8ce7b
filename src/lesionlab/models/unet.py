"""Segmentation U-Nets: the shape of Zhao et al. 2022 and one on the pretrained EfficientNet-Lite0.

Zhao et al. 2022: "Self-supervised Assisted Active Learning for Skin Lesion Segmentation" (EMBC).

Both split into `encode` (a list of feature maps, shallowest first, the last one the deepest stage) and
`decode` (skip connections -> one foreground logit per pixel), because three things need the split:
the CPU fast path caches a frozen encoder's features and trains only the decoder; MC dropout runs the
encoder once and the decoder T times (channel dropout sits on the deepest features and on the last
feature map before the 1 x 1 output convolution: at the bottleneck alone a trained decoder barely moves);
`ssl_kmeans` and the core-set strategies read the deepest stage, pooled.

The blocks are MONAI's (`TwoConv`, `Down`, `UpCat` of `BasicUNet`), so Zhao et al.'s U-Net is MONAI's
BasicUNet with features (64, 128, 256, 512, 512, 64): 512 channels at 1/16 resolution, as their
512 x 16 x 16 at 256 px. `width` scales every stage (width 16 is the CPU configuration).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lesionlab.errors import ConfigError

SEGMENTERS = ("unet", "unet_lite0", "unet_resnet18")
# BasicUNet's layer arguments: ReLU and batch norm as Ronneberger et al. (with batch norm added).
_ACT = ("relu", {"inplace": True})
_NORM = ("batch", {})


class Segmenter(nn.Module):
    """Common interface: `encode`, `decode`, `embed`; inputs are (N, 3, H, W) floats in [0, 1]."""

    task = "segmentation"  # the registered task this model serves (lesionlab.tasks)

    encoder_pretrained: bool = False

    def save_checkpoint(self, path: Path, meta: dict | None = None) -> None:
        """Weights plus what built them, written atomically (`save_segmenter`)."""
        save_segmenter(self, path, meta)

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout2d(dropout)

    def encoder_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) foreground logits."""
        return self.decode(self.encode(x))

    @staticmethod
    def embed(feats: list[torch.Tensor], pool: int = 1) -> torch.Tensor:
        """(N, C * pool * pool): the deepest stage, adaptive-average-pooled to pool x pool, flattened."""
        return F.adaptive_avg_pool2d(feats[-1].float(), pool).flatten(1)

    @property
    def embed_dim(self) -> int:
        raise NotImplementedError


class UNet(Segmenter):
    """Zhao et al.'s U-Net (Ronneberger et al.; MONAI BasicUNet blocks): 4 poolings, `width` * (1, 2, 4, 8, 8)
    channels, so width 64 gives 512 channels at 1/16 resolution. Dropout on the deepest stage and before
    the output convolution."""

    def __init__(self, width: int = 64, dropout: float = 0.2, in_channels: int = 3) -> None:
        from monai.networks.nets.basic_unet import Down, TwoConv, UpCat

        super().__init__(dropout)
        if width < 1:
            raise ConfigError(f"model.width must be >= 1, got {width}")
        f = [width, 2 * width, 4 * width, 8 * width, 8 * width, width]
        self.channels = f[:5]
        self.conv_0 = TwoConv(2, in_channels, f[0], _ACT, _NORM, True, 0.0)
        self.down_1 = Down(2, f[0], f[1], _ACT, _NORM, True, 0.0)
        self.down_2 = Down(2, f[1], f[2], _ACT, _NORM, True, 0.0)
        self.down_3 = Down(2, f[2], f[3], _ACT, _NORM, True, 0.0)
        self.down_4 = Down(2, f[3], f[4], _ACT, _NORM, True, 0.0)
        self.upcat_4 = UpCat(2, f[4], f[3], f[3], _ACT, _NORM, True, 0.0, "deconv")
        self.upcat_3 = UpCat(2, f[3], f[2], f[2], _ACT, _NORM, True, 0.0, "deconv")
        self.upcat_2 = UpCat(2, f[2], f[1], f[1], _ACT, _NORM, True, 0.0, "deconv")
        self.upcat_1 = UpCat(2, f[1], f[0], f[5], _ACT, _NORM, True, 0.0, "deconv", halves=False)
        self.final_conv = nn.Conv2d(f[5], 1, kernel_size=1)

    def encoder_modules(self) -> list[nn.Module]:
        return [self.conv_0, self.down_1, self.down_2, self.down_3, self.down_4]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.conv_0(x)]
        for down in (self.down_1, self.down_2, self.down_3, self.down_4):
            feats.append(down(feats[-1]))
        return feats

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x0, x1, x2, x3, x4 = feats
        u = self.upcat_4(self.dropout(x4), x3)
        u = self.upcat_3(u, x2)
        u = self.upcat_2(u, x1)
        return self.final_conv(self.dropout(self.upcat_1(u, x0)))

    @property
    def embed_dim(self) -> int:
        return self.channels[-1]


class _TimmUNet(Segmenter):
    """A U-Net decoder (MONAI `UpCat`) on a timm encoder's five feature maps (strides 2 to 32)."""

    def __init__(self, encoder: nn.Module, dropout: float, decoder: tuple[int, ...] = (128, 64, 32, 16)):
        from monai.networks.nets.basic_unet import TwoConv, UpCat

        super().__init__(dropout)
        self.encoder = encoder
        ch = list(encoder.feature_info.channels())
        self.channels = ch
        # Stride 32 -> 16 -> 8 -> 4 -> 2, each with the encoder's map of that stride, then to full size.
        ins = [ch[4], *decoder[:-1]]
        self.ups = nn.ModuleList(
            UpCat(2, i, c, o, _ACT, _NORM, True, 0.0, "deconv", halves=False)
            for i, c, o in zip(ins, ch[3::-1], decoder, strict=True)
        )
        self.head = TwoConv(2, decoder[-1], decoder[-1], _ACT, _NORM, True, 0.0)
        self.final_conv = nn.Conv2d(decoder[-1], 1, kernel_size=1)
        self.register_buffer("mean", torch.tensor(self.input_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.input_std).view(1, 3, 1, 1), persistent=False)

    input_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    input_std: tuple[float, ...] = (0.5, 0.5, 0.5)

    def encoder_modules(self) -> list[nn.Module]:
        return [self.encoder]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.encoder((x - self.mean) / self.std))

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        u = self.dropout(feats[4])
        for up, skip in zip(self.ups, feats[3::-1], strict=True):
            u = up(u, skip)
        u = F.interpolate(u, scale_factor=2, mode="bilinear", align_corners=False)
        return self.final_conv(self.dropout(self.head(u)))

    @property
    def embed_dim(self) -> int:
        return self.channels[-1]


class Lite0UNet(_TimmUNet):
    """U-Net on EfficientNet-Lite0 (channels 16, 24, 40, 112, 320), ImageNet weights loaded offline."""

    def __init__(self, weights: str = "imagenet", dropout: float = 0.2) -> None:
        import timm

        encoder = timm.create_model("tf_efficientnet_lite0", features_only=True, pretrained=False)
        if weights == "imagenet":
            from lesionlab.models.efficientnet_lite import offline_weights_path, rename_to_timm

            state = rename_to_timm(torch.load(offline_weights_path(), map_location="cpu", weights_only=True))
            state = {k: v for k, v in state.items() if k.split(".")[0] in ("conv_stem", "bn1", "blocks")}
            encoder.load_state_dict(state, strict=True)
            self.encoder_pretrained = True
        super().__init__(encoder, dropout)


class ResNet18UNet(_TimmUNet):
    """U-Net on ResNet-18 (Kim et al. 2020's segmentation backbone); ImageNet weights need network or file."""

    input_mean = (0.485, 0.456, 0.406)
    input_std = (0.229, 0.224, 0.225)

    def __init__(self, weights: str = "imagenet", dropout: float = 0.2) -> None:
        import timm

        pretrained = weights == "imagenet"
        try:
            encoder = timm.create_model("resnet18", features_only=True, pretrained=pretrained)
        except OSError as exc:
            raise ConfigError(
                f"could not fetch ImageNet weights for resnet18 ({exc}); without a network use "
                "backbone unet_lite0 (offline weights), weights: none, or a local checkpoint path"
            ) from exc
        self.encoder_pretrained = pretrained
        super().__init__(encoder, dropout, decoder=(256, 128, 64, 32))


def create_segmenter(
    name: str, weights: str = "imagenet", dropout: float = 0.2, seed: int = 0, width: int = 64
) -> Segmenter:
    """A segmentation model by config name; `weights` is imagenet, none, or a checkpoint (e.g. from
    `lesionlab pretrain`: the self-supervised warm start). Fresh layers are initialised from `seed`."""
    if name not in SEGMENTERS:
        raise ConfigError(f"unknown segmentation backbone {name!r}; choose one of: {', '.join(SEGMENTERS)}")
    torch.manual_seed(seed)
    base = "none" if weights not in ("imagenet", "none") else weights
    if name == "unet":
        if base == "imagenet":
            base = "none"  # Zhao et al.'s U-Net has no ImageNet weights: random init unless a checkpoint
        model: Segmenter = UNet(width=width, dropout=dropout)
    elif name == "unet_lite0":
        model = Lite0UNet(base, dropout)
    else:
        model = ResNet18UNet(base, dropout)
    if weights not in ("imagenet", "none"):
        load_segmenter_checkpoint(model, Path(weights))
        model.encoder_pretrained = True
    return model


def save_segmenter(model: Segmenter, path: Path, meta: dict | None = None) -> None:
    """Weights plus what built them, written atomically."""
    from lesionlab.io import atomic_file, tensor_bytes

    state = model.state_dict()
    with atomic_file(Path(path), expected_bytes=tensor_bytes(state.values())) as fh:
        torch.save({"lesionlab_segmenter": meta or {}, "state_dict": state}, fh)


# The 1x1 convolution that maps the last decoder features to the output: in a `lesionlab pretrain`
# checkpoint it predicts the reconstructed intensity, which is not a lesion logit.
OUTPUT_LAYER = "final_conv."


def load_segmenter_checkpoint(model: Segmenter, path: Path) -> dict:
    """Load every tensor of a checkpoint whose name and shape match; return its metadata. From a Models
    Genesis checkpoint (`kind: models_genesis`) the encoder and decoder are loaded but the output layer
    keeps its fresh, seeded initialisation: loaded, it would start segmentation from "lesion = bright"."""
    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist; give 'imagenet', 'none' or a checkpoint path")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is the user's to fix
        raise ConfigError(f"weights file {path} is not a readable checkpoint ({exc})") from None
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(f"weights file {path} holds no state dict")
    meta = blob.get("lesionlab_segmenter", {}) if isinstance(blob, dict) else {}
    pretext = isinstance(meta, dict) and meta.get("kind") == "models_genesis"
    own = model.state_dict()
    usable = {
        k: v
        for k, v in state.items()
        if k in own and own[k].shape == v.shape and not (pretext and k.startswith(OUTPUT_LAYER))
    }
    encoder_keys = [k for k in own if not k.startswith(("upcat", "ups", "head", OUTPUT_LAYER))]
    missing = [k for k in encoder_keys if k not in usable and "num_batches_tracked" not in k]
    if missing:
        raise ConfigError(
            f"weights file {path} does not fit this model's encoder ({len(missing)} tensors missing or of "
            f"another shape, e.g. {missing[0]}): check model.backbone and model.width match the checkpoint"
        )
    model.load_state_dict(usable, strict=False)
    return meta
