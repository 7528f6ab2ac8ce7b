"""The Models Genesis pre-training loop (Zhao et al. 2022, Eq. 1): reconstruct each unlabelled image from
a deformed copy with an L2 loss; the weights then warm-start the segmentation U-Net.

Zhao et al. 2022: "Self-supervised Assisted Active Learning for Skin Lesion Segmentation" (EMBC).

The network is the segmentation model itself (same backbone and width), so its checkpoint loads into the
segmenter tensor for tensor: its one output channel is the reconstructed grayscale image here and the
lesion logit after fine-tuning. Deformed pairs are drawn afresh each epoch from a generator seeded by
(seed, epoch), so a run is reproducible.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionlab.data.cache import ImageCache, default_cache_dir
from lesionlab.data.loading import load_dataset
from lesionlab.errors import ConfigError, DataError
from lesionlab.io import write_json
from lesionlab.models.unet import Segmenter, create_segmenter, save_segmenter
from lesionlab.progress import eta, log_line, progress
from lesionlab.selfsup.config import PretrainConfig
from lesionlab.selfsup.transforms import GenesisRates, genesis_pair
from lesionlab.tasks.segmentation import segmentation_backbone
from lesionlab.training.device import seed_everything, select_device, set_threads
from lesionlab.versions import versions

CHECKPOINT = "model.pt"


def deformed_batch(
    images: np.ndarray, rng: np.random.Generator, rates: GenesisRates
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) deformed inputs (gray repeated on 3 channels) and (N, H, W) targets from (N, H, W)
    grayscale images in [0, 1]."""
    pairs = [genesis_pair(img, rng, rates) for img in images]
    x = torch.from_numpy(np.stack([p[0] for p in pairs])).float()
    y = torch.from_numpy(np.stack([p[1] for p in pairs])).float()
    return x[:, None].expand(-1, 3, -1, -1).contiguous(), y


def reconstruction_loss(model: Segmenter, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 1: mean squared error between the reconstruction (sigmoid of the output) and the original."""
    return torch.nn.functional.mse_loss(torch.sigmoid(model(x)[:, 0]), y)


def pretrain(config: PretrainConfig, force: bool = False) -> dict[str, Any]:
    """Pre-train, keep the epoch with the lowest held-out reconstruction loss, write `model.pt` and
    `pretrain.json` (loss per epoch) into `config.output`."""
    out = Path(config.output)
    if (out / CHECKPOINT).exists() and not force:
        raise ConfigError(f"{out} already holds a pre-trained model; pass --force or choose another output")
    dataset = load_dataset(config, labels=False)  # type: ignore[arg-type]  # images only
    records = [r for s in config.splits for r in dataset.split(s)]
    if len(records) < 2:
        raise DataError(f"{dataset.name} has {len(records)} image(s) in {config.splits}: need at least 2")
    set_threads(config.num_threads)
    device = select_device(config.device)
    rng = seed_everything(config.seed)
    cache = ImageCache(
        config.cache_dir or default_cache_dir(), config.resolution, "grayscale_minmax", config.resize
    )
    t0 = time.perf_counter()
    gray = cache.get_many([r.image_path for r in records], progress=config.progress)[..., 0]
    images = gray.astype(np.float32) / 255.0
    order = rng.permutation(len(images))
    n_hold = round(config.holdout * len(images)) if len(images) > 2 else 0
    hold, train = images[order[:n_hold]], images[order[n_hold:]]
    m = config.model
    model = create_segmenter(segmentation_backbone(m.backbone), m.weights, m.dropout, config.seed, m.width)
    model.to(device)
    history, best_state = _fit(model, train, hold, config, device)
    model.load_state_dict(best_state)
    meta = {
        "kind": "models_genesis",
        "backbone": segmentation_backbone(m.backbone),
        "width": m.width,
        "resolution": config.resolution,
        "resize": config.resize,  # the cold start's features must see non-square images the same way
        "n_images": len(images),
        "best_epoch": int(next(r["epoch"] for r in reversed(history) if r.get("best"))),
    }
    save_segmenter(model, out / CHECKPOINT, meta)
    result = {
        **meta,
        "history": history,
        "n_holdout": n_hold,
        "seconds": time.perf_counter() - t0,
        "config": config.model_dump(mode="json"),
        "versions": versions(),
    }
    write_json(out / "pretrain.json", result)
    return result


def _fit(
    model: Segmenter, train: np.ndarray, hold: np.ndarray, config: PretrainConfig, device: torch.device
) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """(one row per epoch, the weights of the best epoch): the epoch loop, scored on the held-out images.

    The held-out pairs are drawn once, so every epoch is scored on the same deformations; without
    held-out images (tiny sets) the training loss picks the epoch. Each epoch's draws come from
    (seed, epoch) alone, so a run repeats exactly.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rates = GenesisRates(config.local_rate, config.nonlinear_rate, config.paint_rate, config.inpaint_rate)
    hold_x, hold_y = (
        deformed_batch(hold, np.random.default_rng([config.seed, 0]), rates) if len(hold) else (None, None)
    )
    history: list[dict[str, Any]] = []
    best, best_state = np.inf, None
    t_train = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        epoch_rng = np.random.default_rng([config.seed, epoch])
        row: dict[str, Any] = {"epoch": epoch}
        row["train_loss"] = _train_epoch(model, optimizer, train, epoch_rng, rates, config, device, epoch)
        score = row["train_loss"]
        if hold_x is not None:
            model.eval()
            with torch.inference_mode():
                row["holdout_loss"] = float(reconstruction_loss(model, hold_x.to(device), hold_y.to(device)))
            score = row["holdout_loss"]
        if score < best:
            best, best_state = score, {k: v.detach().clone() for k, v in model.state_dict().items()}
            row["best"] = True
        history.append(row)
        elapsed = time.perf_counter() - t_train
        log_line(
            f"pretrain epoch {epoch}/{config.epochs}: loss {row['train_loss']:.4f}"
            + (f", held-out {row['holdout_loss']:.4f}" if "holdout_loss" in row else "")
            + f", {elapsed:.0f} s, {eta(epoch, config.epochs, elapsed)}",
            config.progress,
        )
    return history, best_state


def _train_epoch(
    model: Segmenter,
    optimizer: torch.optim.Optimizer,
    train: np.ndarray,
    rng: np.random.Generator,
    rates: GenesisRates,
    config: PretrainConfig,
    device: torch.device,
    epoch: int,
) -> float:
    """One pass over `train` in a shuffled order, freshly deformed; returns the mean training loss.

    A last batch of one image is skipped (batch norm cannot train on one sample) unless it is the only
    image, and the mean still divides by every image, as the recorded losses always have.
    """
    model.train()
    perm = rng.permutation(len(train))
    total = 0.0
    batches = range(0, len(perm), config.batch_size)
    for start in progress(batches, f"pretrain epoch {epoch}/{config.epochs}", enabled=config.progress):
        idx = perm[start : start + config.batch_size]
        if len(idx) < 2 and len(perm) > 1:
            continue  # batch norm cannot train on one sample
        x, y = deformed_batch(train[idx], rng, rates)
        loss = reconstruction_loss(model, x.to(device), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(perm)
