"""fit / predict / embed for a segmentation U-Net (paper 001, paper 003's second half).

A trainer of its own rather than branches inside `Trainer`: the classification trainer is built around
`LesionClassifier` (stages, a trunk-activation cache, class weights, mosaics, taps for auxiliary heads),
none of which a U-Net has, while a U-Net needs masks as targets, pixel maps as outputs and an encoder /
decoder split. What the two share is shared by import, not copied: the task (metrics, primary metric,
pixel reductions), the loss registry (`ce_dice` by default: Eq. 3 of paper 001), `ImageCache`,
`EarlyStopping`, seeding, device and thread choice, `FitResult`, progress and epoch logging.

`freeze_stages > 0` is the CPU fast path: the (pretrained) encoder is frozen and its feature maps are
computed once per image and kept in memory as float16, so each epoch runs the decoder only.
`freeze_stages: 0` trains everything with random flips of image and mask together.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lesionlab.config import TrainConfig
from lesionlab.data.cache import ImageCache
from lesionlab.data.preprocess import load_mask
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.models.unet import Segmenter
from lesionlab.progress import eta, log_line, progress
from lesionlab.tasks import JACCARD_THRESHOLD, LOSS_MONITOR, Task, get_task
from lesionlab.training.auxiliary import AuxiliaryHead, EpochCallback, EpochEnd
from lesionlab.training.device import seed_everything, seeded, select_device, set_threads
from lesionlab.training.early_stopping import EarlyStopping
from lesionlab.training.fit_data import FitResult, _checked_weights
from lesionlab.training.losses import build_loss
from lesionlab.training.trainer import note_last_epoch_best

BATCH_INFER = 32


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log())


class SegOutput:
    """What an auxiliary head reads from a U-Net: its encoder maps, pooled on demand (the interface of
    `ClassifierOutput.pooled_tap`, so paper 003's loss predictor serves both tasks)."""

    def __init__(self, feats: list[torch.Tensor]) -> None:
        self.feats = feats

    def pooled_tap(self, stage: int) -> torch.Tensor:
        return self.feats[stage].float().mean(dim=(2, 3))


class SegTrainer:
    """Trains and applies one segmentation model; decoded images, masks and frozen features are cached."""

    def __init__(
        self,
        model: Segmenter,
        config: TrainConfig,
        cache_dir: Path | None = None,
        task: Task | None = None,
        aux_heads: Sequence[AuxiliaryHead] = (),
        callbacks: Sequence[EpochCallback] = (),
    ) -> None:
        self.config, self.model = config, model
        self.aux_heads = list(aux_heads)
        self.task = task or get_task("segmentation")
        loss_name = self.task.default_loss if config.loss == "auto" else config.loss
        setup = build_loss(loss_name, config, 2)
        self.loss_fn = setup.loss
        self.callbacks = [*setup.callbacks, *callbacks]
        self.task.check_metric(config.monitor, 2, "train.monitor", allow_loss=True)
        self.device = select_device(config.device)
        set_threads(config.num_threads)
        self.model.to(self.device)
        for head in self.aux_heads:
            head.to(self.device)
        self.images = ImageCache(cache_dir, config.resolution, config.preprocessing, config.resize)
        self.fast = config.freeze_stages > 0
        if self.fast and not model.encoder_pretrained:
            raise ConfigError(
                "train.freeze_stages > 0 freezes the encoder, but this model's encoder is not pretrained: "
                "set train.freeze_stages: 0, or give model.weights (imagenet for unet_lite0, or a "
                "`lesionlab pretrain` checkpoint)"
            )
        if self.fast:
            for module in model.encoder_modules():
                module.requires_grad_(False)
        self._features: dict[str, list[torch.Tensor]] = {}  # image path -> frozen encoder maps (fp16)
        self._masks: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- inputs
    def _images(self, records: Sequence[Record]) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1]."""
        arr = self.images.get_many([r.image_path for r in records], progress=self._shows(len(records)))
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)

    def _shows(self, n: int) -> bool:
        """Whether a phase over `n` images reports progress: more than one batch, and progress is on."""
        return self.config.progress and n > BATCH_INFER

    def targets(self, records: Sequence[Record]) -> np.ndarray:
        """(N, H, W) float32 masks at the working resolution; every record needs a mask file."""
        missing = [r.id for r in records if r.mask_path is None]
        if missing:
            raise ConfigError(
                f"{len(missing)} image(s) have no mask, e.g. {missing[:3]}: segmentation needs a mask per "
                "labelled image (ISIC 2017 Part 1 ground truth, or the folder source's masks= option)"
            )
        out = np.empty((len(records), self.config.resolution, self.config.resolution), dtype=np.float32)
        new = sum(str(r.mask_path) not in self._masks for r in records)
        for i, r in enumerate(progress(records, f"decoding {new} masks", enabled=self._shows(new))):
            key = str(r.mask_path)
            if key not in self._masks:
                self._masks[key] = load_mask(Path(r.mask_path), self.config.resolution, self.config.resize)
            out[i] = self._masks[key]
        return out

    @torch.inference_mode()
    def _frozen_features(self, records: Sequence[Record]) -> list[torch.Tensor]:
        """The frozen encoder's maps of `records`, stacked per level, computed once per image."""
        todo = [r for r in records if str(r.image_path) not in self._features]
        self.model.eval()
        starts = range(0, len(todo), BATCH_INFER)
        described = f"encoding {len(todo)} images (frozen encoder, batches of {BATCH_INFER})"
        for start in progress(starts, described, enabled=self._shows(len(todo))):
            chunk = todo[start : start + BATCH_INFER]
            feats = self.model.encode(self._images(chunk).to(self.device))
            for i, r in enumerate(chunk):
                self._features[str(r.image_path)] = [f[i].half().cpu() for f in feats]
        maps = [self._features[str(r.image_path)] for r in records]
        return [torch.stack([m[level] for m in maps]) for level in range(len(maps[0]))] if maps else []

    # ---------------------------------------------------------------- fit
    def _state(self) -> dict:
        return copy.deepcopy(
            {"model": self.model.state_dict(), **{f"aux.{h.name}": h.state_dict() for h in self.aux_heads}}
        )

    def _load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for head in self.aux_heads:
            head.load_state_dict(state[f"aux.{head.name}"])

    def _train_mode(self) -> None:
        self.model.train()
        for head in self.aux_heads:
            head.train()
        if self.fast:  # frozen encoder keeps its batch-norm statistics
            for module in self.model.encoder_modules():
                module.eval()

    def fit(
        self,
        train: Sequence[Record],
        val: Sequence[Record] = (),
        class_names: Sequence[str] | None = None,
        sample_weights: np.ndarray | None = None,
    ) -> FitResult:
        """Train on the masks of `train`; with `val`, keep the epoch with the best validation score."""
        cfg = self.config
        rng = seed_everything(cfg.seed)
        if len(train) == 0:
            raise ConfigError("nothing to train on: the training set is empty")
        val = [r for r in val if r.mask_path is not None]
        monitor = self.task.check_metric(cfg.monitor, 2, "train.monitor", allow_loss=True)
        t0 = time.perf_counter()
        y = torch.from_numpy(self.targets(train))
        x = self._frozen_features(train) if self.fast else self._images(train)
        y_val = self.targets(val) if val else None
        weights = _checked_weights(sample_weights, len(train))
        cache_seconds = time.perf_counter() - t0
        params = [p for p in self.model.parameters() if p.requires_grad]
        params += [p for head in self.aux_heads for p in head.parameters()]
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        result = FitResult(best_epoch=cfg.epochs, best_score=None, monitor=monitor)
        stopping = EarlyStopping(cfg.patience)
        seen, t_train = 0, time.perf_counter()
        last: float | None = None
        for epoch in range(1, cfg.epochs + 1):
            row = self._train_epoch(train, x, y, weights, optimizer, rng, epoch, monitor, last)
            seen += len(train)
            if y_val is not None:
                metrics = self._validate(val, y_val)
                last = metrics.get(monitor)
                row.update({f"val_{k}": v for k, v in metrics.items()})
                score = -metrics[LOSS_MONITOR] if monitor == LOSS_MONITOR else metrics[monitor]
                if stopping.update(score, epoch):
                    result.best_score, result.best_epoch = stopping.best_score, epoch
                    stopping.keep(self._state())
            event = EpochEnd(self, epoch, train, weights, row)
            for callback in self.callbacks:
                callback(event)
            weights = _checked_weights(event.sample_weights, len(train))
            result.history.append(row)
            elapsed = time.perf_counter() - t_train
            val_text = "" if last is None else f", val {monitor} {last:.3f}"
            log_line(
                f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.4f}{val_text}, "
                f"{elapsed:.0f} s, {eta(epoch, cfg.epochs, elapsed)}",
                cfg.progress,
            )
            if y_val is not None and stopping.should_stop():
                break
        if stopping.best_state is not None:
            self._load_state(stopping.best_state)
        if y_val is None:
            result.best_epoch = len(result.history)
        elif result.best_epoch == cfg.epochs and cfg.epochs > 1:
            note_last_epoch_best(cfg.epochs, cfg.progress)
        result.train_seconds = time.perf_counter() - t_train
        result.cache_seconds = cache_seconds
        result.images_per_second = seen / max(result.train_seconds, 1e-9)
        return result

    def _train_epoch(self, train, x, y, weights, optimizer, rng, epoch, monitor, last) -> dict:
        cfg = self.config
        self._train_mode()
        order = rng.permutation(len(train))
        w = None if weights is None else torch.from_numpy(weights)
        total = 0.0
        note = "" if last is None else f" (last val {monitor} {last:.3f})"
        for start in progress(
            range(0, len(order), cfg.batch_size), f"epoch {epoch}/{cfg.epochs}{note}", enabled=cfg.progress
        ):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # batch norm cannot train on a single sample
            target = y[torch.from_numpy(idx)].to(self.device)
            if self.fast:
                feats = [f[torch.from_numpy(idx)].to(self.device).float() for f in x]
            else:
                batch = x[torch.from_numpy(idx)]
                if cfg.augmentation != "none":  # flips of image and mask together
                    batch, target = _random_flips(batch, target, rng)
                feats = self.model.encode(batch.to(self.device))
            logits = self.model.decode(feats)[:, 0]
            batch_w = None if w is None else w[torch.from_numpy(idx)].to(self.device)
            task_loss = self.loss_fn(logits[:, None], target, None)
            loss = task_loss.mean(batch_w)
            for head in self.aux_heads:  # e.g. paper 003's loss predictor on the encoder maps
                loss = loss + head.weight * head.loss(head(SegOutput(feats)), task_loss, batch_w)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return {"epoch": epoch, "train_loss": total / max(len(order), 1), "n_synthetic": 0}

    def _validate(self, val: Sequence[Record], y_val: np.ndarray) -> dict:
        probs = self.predict(val)
        metrics = self.task.metrics(y_val, probs)
        p = np.clip(probs, 1e-6, 1 - 1e-6)
        metrics[LOSS_MONITOR] = float(-(y_val * np.log(p) + (1 - y_val) * np.log(1 - p)).mean())
        return metrics

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def _passes(self, records: Sequence[Record], mc_samples: int = 0, pool: int = 1):
        """Yield per batch: foreground probabilities (B, H, W), pooled deepest features (B, D) and, with
        `mc_samples`, T MC-dropout probability maps (T, B, H, W) (the encoder runs once, the decoder T
        times with dropout on the deepest features; batch norm stays in eval mode)."""
        self.model.eval()
        starts = range(0, len(records), BATCH_INFER)
        described = f"predicting {len(records)} masks (batches of {BATCH_INFER})"
        for start in progress(starts, described, enabled=self._shows(len(records))):
            chunk = records[start : start + BATCH_INFER]
            if self.fast:
                feats = [f.to(self.device).float() for f in self._frozen_features(chunk)]
            else:
                feats = self.model.encode(self._images(chunk).to(self.device))
            probs = torch.sigmoid(self.model.decode(feats)[:, 0]).cpu()
            emb = self.model.embed(feats, pool).cpu()
            mc = None
            if mc_samples:
                self.model.dropout.train()
                with seeded(self.config.seed, self.device, start):  # per batch: the caller runs between
                    mc = torch.stack(
                        [torch.sigmoid(self.model.decode(feats)[:, 0]).cpu() for _ in range(mc_samples)]
                    )
                self.model.dropout.eval()
            yield probs, emb, mc

    def predict(self, records: Sequence[Record], views: int | None = None) -> np.ndarray:
        """(N, H, W) foreground probabilities (float32)."""
        res = self.config.resolution
        out = [p.numpy() for p, _, _ in self._passes(records)]
        return np.concatenate(out) if out else np.empty((0, res, res), dtype=np.float32)

    def embed(self, records: Sequence[Record], pool: int = 1) -> np.ndarray:
        """(N, C * pool^2): the deepest encoder stage, adaptive-average-pooled (paper 001's AAP)."""
        out = [e.numpy() for _, e, _ in self._passes(records, pool=pool)]
        return np.concatenate(out) if out else np.empty((0, self.model.embed_dim * pool * pool))

    def outputs(
        self, records: Sequence[Record], mc_samples: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability maps (N, H, W), embeddings (N, D); MC maps are not kept (see `pixel_uncertainty`)."""
        return self.predict(records), self.embed(records), np.empty((0,))

    def pixel_uncertainty(self, records: Sequence[Record], mc_samples: int = 0) -> dict[str, np.ndarray]:
        """Per-image scores from pixel maps, reduced batch by batch so no (T, N, H, W) array is held:
        `entropy` (mean pixel entropy), `confidence` (mean max(p, 1 - p)) and, with `mc_samples`,
        `mutual_information` (mean pixel BALD: entropy of the mean minus mean entropy of the T passes)."""
        out: dict[str, list[np.ndarray]] = {"entropy": [], "confidence": [], "mutual_information": []}
        for probs, _, mc in self._passes(records, mc_samples):
            out["entropy"].append(binary_entropy(probs).mean((1, 2)).numpy())
            out["confidence"].append(torch.maximum(probs, 1 - probs).mean((1, 2)).numpy())
            if mc is not None:
                mean = mc.mean(0)
                mi = (binary_entropy(mean) - binary_entropy(mc).mean(0)).clamp_min(0.0)  # rounding noise
                out["mutual_information"].append(mi.mean((1, 2)).numpy())
        return {k: np.concatenate(v).astype(np.float64) for k, v in out.items() if v}

    @torch.inference_mode()
    def aux_predict(self, records: Sequence[Record]) -> dict[str, np.ndarray]:
        """Each auxiliary head's prediction (N,) for `records` (e.g. the predicted loss)."""
        self.model.eval()
        for head in self.aux_heads:
            head.eval()
        preds: dict[str, list[np.ndarray]] = {h.name: [] for h in self.aux_heads}
        for start in range(0, len(records), BATCH_INFER):
            chunk = records[start : start + BATCH_INFER]
            if self.fast:
                feats = [f.to(self.device).float() for f in self._frozen_features(chunk)]
            else:
                feats = self.model.encode(self._images(chunk).to(self.device))
            for head in self.aux_heads:
                preds[head.name].append(head(SegOutput(feats)).float().cpu().numpy())
        return {k: np.concatenate(v) if v else np.empty(0) for k, v in preds.items()}

    def pseudo_masks(self, records: Sequence[Record], folder: Path) -> dict[str, str]:
        """CEAL's pseudo-labels: each image's predicted mask (0/255 PNG at the working resolution) written
        into `folder`; {id: path}."""
        from PIL import Image

        from lesionlab.io import atomic_file

        out = {}
        for r, p in zip(records, self.predict(records) > self.task.threshold, strict=True):
            path = Path(folder) / f"{r.id}_pseudo.png"
            with atomic_file(path) as fh:
                Image.fromarray((p * 255).astype(np.uint8)).save(fh, format="PNG")
            out[r.id] = str(path)
        return out

    def gallery_images(self, records: Sequence[Record], folder: Path) -> list[str]:
        """What the report shows for selected images: overlays of the true (green) and predicted (red)
        lesion outlines on each image at the working resolution, written into `folder`."""
        from lesionlab.data.preprocess import load_image
        from lesionlab.evaluation.overlays import write_overlay

        pred = self.predict(records) > self.task.threshold
        size, out = self.config.resolution, []
        for r, p in zip(records, pred, strict=True):
            image = load_image(Path(r.image_path), size, "none", self.config.resize)
            truth = None if r.mask_path is None else self.targets([r])[0] > 0
            out.append(str(write_overlay(Path(folder) / f"{r.id}.png", image, truth, p)))
        return out

    def evaluate(self, records: Sequence[Record], classes: Sequence[str] = ()) -> dict:
        """The task's metrics (mean Dice, Jaccard, thresholded Jaccard) of `records` against their masks."""
        return self.task.metrics(self.targets(records), self.predict(records), classes)

    def correct(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) 1 where an image's Jaccard reaches ISIC 2017's 0.65 (what the paired stopping test counts)."""
        jaccard = self.task.per_image(self.targets(records), self.predict(records))["jaccard"]
        return (jaccard >= JACCARD_THRESHOLD).astype(int)

    def describe(self) -> dict:
        return {**self.config.model_dump(), "device": str(self.device), "fast_path": self.fast}


def _random_flips(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical flips, each with probability 0.5 per image, applied to image and mask."""
    x, y = x.clone(), y.clone()
    for i in range(len(x)):
        if rng.random() < 0.5:
            x[i], y[i] = x[i].flip(-1), y[i].flip(-1)
        if rng.random() < 0.5:
            x[i], y[i] = x[i].flip(-2), y[i].flip(-2)
    return x, y
