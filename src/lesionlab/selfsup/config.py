"""`lesionlab pretrain` config: which unlabelled images, which U-Net, how long. Torch-free, like config.py."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from lesionlab.config import DataConfig, Finite, FolderPath, ModelConfig, StrictModel


def _unet() -> ModelConfig:
    return ModelConfig(backbone="unet", weights="none")


class PretrainConfig(StrictModel):
    """Models Genesis pre-training of a segmentation U-Net on unlabelled images (Zhao et al. 2022, Eq. 1).

    Zhao et al. 2022: "Self-supervised Assisted Active Learning for Skin Lesion Segmentation" (EMBC).
    Images are grayscale and min-max normalised (their preprocessing); the network reconstructs the
    original from a deformed copy with an L2 loss. Labels and masks are never read. `splits` names the
    images used: their unlabelled pool is the training split, so test images stay unseen.
    """

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=_unet)
    splits: list[Literal["train", "val", "test"]] = Field(default_factory=lambda: ["train"], min_length=1)
    epochs: int = Field(20, ge=1)  # Zhao et al. give none; the loss curve is in pretrain.json
    batch_size: int = Field(16, ge=1)
    lr: Finite = Field(1e-3, gt=0)
    resolution: int = Field(256, ge=16)  # Zhao et al.'s 256 x 256
    resize: Literal["squash", "center_crop", "pad"] = "squash"
    # Models Genesis' rates (reference implementation defaults).
    local_rate: Finite = Field(0.5, ge=0, le=1)
    nonlinear_rate: Finite = Field(0.9, ge=0, le=1)
    paint_rate: Finite = Field(0.9, ge=0, le=1)
    inpaint_rate: Finite = Field(0.2, ge=0, le=1)
    holdout: Finite = Field(0.05, ge=0, lt=1)  # share of images whose reconstruction loss picks the epoch
    seed: int = Field(0, ge=0)
    num_threads: int | None = Field(None, ge=1)
    device: str = "auto"
    progress: bool = True
    output: FolderPath = Path("runs/pretrain")
    cache_dir: FolderPath | None = None
    check_files: bool = True
