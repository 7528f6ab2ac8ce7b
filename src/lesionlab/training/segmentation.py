"""The segmentation runtime: a U-Net's inputs, batches and inference inside `Trainer`.

Masks are the targets and foreground-probability maps the outputs; the loss defaults to `ce_dice`
(cross-entropy plus Dice, Eq. 3 of Zhao et al. 2022's self-supervised cold start). `freeze_stages > 0` is
the CPU fast path: the (pretrained) encoder is frozen and its feature maps are computed once per image and
kept in memory as float16, so each epoch runs the decoder only. `freeze_stages: 0` trains everything with
random flips of image and mask together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lesionlab.data.preprocess import load_mask
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.progress import progress
from lesionlab.tasks import LOSS_MONITOR
from lesionlab.training.fit_data import checked_weights
from lesionlab.training.runtime import EpochPlan, FitData, TaskRuntime, TrainStep

INFER_BATCH = 32


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log())


class SegOutput:
    """What an auxiliary head reads from a U-Net: its encoder maps, pooled on demand (the interface of
    `ClassifierOutput.pooled_tap`, so the learned loss predictor serves both tasks)."""

    def __init__(self, feats: list[torch.Tensor]) -> None:
        self.feats = feats

    def pooled_tap(self, stage: int) -> torch.Tensor:
        return self.feats[stage].float().mean(dim=(2, 3))


@dataclass
class SegmenterFitData(FitData):
    x: object = None  # (N, 3, H, W) images, or the frozen encoder's maps per level
    y: torch.Tensor | None = None  # (N, H, W) masks
    y_val: np.ndarray | None = None


class SegmenterRuntime(TaskRuntime):
    """Images (or frozen encoder maps) in, foreground probabilities and pooled deepest features out."""

    def __init__(self, trainer, cache_dir: Path | None) -> None:
        super().__init__(trainer, cache_dir)
        self.model, self.config = trainer.model, trainer.config
        if trainer.fast and not self.model.encoder_pretrained:
            raise ConfigError(
                "train.freeze_stages > 0 freezes the encoder, but this model's encoder is not pretrained: "
                "set train.freeze_stages: 0, or give model.weights (imagenet for unet_lite0, or a "
                "`lesionlab pretrain` checkpoint)"
            )
        self._features: dict[str, list[torch.Tensor]] = {}  # image path -> frozen encoder maps (fp16)
        self._masks: dict[tuple[str, int, int], np.ndarray] = {}  # (mask path, mtime_ns, size) -> mask

    @property
    def num_classes(self) -> int:
        return 2

    def frozen_modules(self) -> list[torch.nn.Module]:
        return self.model.encoder_modules() if self.trainer.fast else []

    # ---------------------------------------------------------------- inputs
    def _images(self, records: Sequence[Record]) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1]."""
        arr = self.trainer.images.get_many(
            [r.image_path for r in records], progress=self._shows(len(records))
        )
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)
        return self.trainer.as_memory_format(x)

    def _shows(self, n: int) -> bool:
        """Whether a phase over `n` images reports progress: more than one batch, and progress is on."""
        return self.config.progress and n > INFER_BATCH

    def targets(self, records: Sequence[Record]) -> np.ndarray:
        """(N, H, W) float32 masks at the working resolution; every record needs a mask file."""
        missing = [r.id for r in records if r.mask_path is None]
        if missing:
            raise ConfigError(
                f"{len(missing)} image(s) have no mask, e.g. {missing[:3]}: segmentation needs a mask per "
                "labelled image (ISIC 2017 Part 1 ground truth, or the folder source's masks= option)"
            )
        out = np.empty((len(records), self.config.resolution, self.config.resolution), dtype=np.float32)
        keys = [_file_key(Path(r.mask_path)) for r in records]
        new = sum(k not in self._masks for k in keys)
        for i, r in enumerate(progress(records, f"decoding {new} masks", enabled=self._shows(new))):
            key = keys[i]
            if key not in self._masks:
                self._masks[key] = load_mask(Path(r.mask_path), self.config.resolution, self.config.resize)
            out[i] = self._masks[key]
        return out

    @torch.inference_mode()
    def _frozen_features(self, records: Sequence[Record]) -> list[torch.Tensor]:
        """The frozen encoder's maps of `records`, stacked per level, computed once per image."""
        todo = [r for r in records if str(r.image_path) not in self._features]
        self.model.eval()
        starts = range(0, len(todo), INFER_BATCH)
        described = f"encoding {len(todo)} images (frozen encoder, batches of {INFER_BATCH})"
        for start in progress(starts, described, enabled=self._shows(len(todo))):
            chunk = todo[start : start + INFER_BATCH]
            with self.trainer.autocast():
                feats = self.model.encode(self._images(chunk).to(self.trainer.device))
            for i, r in enumerate(chunk):
                self._features[str(r.image_path)] = [f[i].half().cpu() for f in feats]
        maps = [self._features[str(r.image_path)] for r in records]
        return [torch.stack([m[level] for m in maps]) for level in range(len(maps[0]))] if maps else []

    def _features_of(self, records: Sequence[Record]) -> list[torch.Tensor]:
        """Encoder maps of `records` on the device: from the frozen cache, or by running the encoder."""
        if self.trainer.fast:
            return [f.to(self.trainer.device).float() for f in self._frozen_features(records)]
        with self.trainer.autocast():
            return self.model.encode(self._images(records).to(self.trainer.device))

    # ---------------------------------------------------------------- fit
    def prepare(self, train, val, class_names, sample_weights) -> SegmenterFitData:
        """Masks and inputs (images, or frozen encoder maps) once per fit; validation needs masks."""
        if len(train) == 0:
            raise ConfigError("nothing to train on: the training set is empty")
        val = [r for r in val if r.mask_path is not None]
        monitor = self.trainer.task.check_metric(self.config.monitor, 2, "train.monitor", allow_loss=True)
        t0 = time.perf_counter()
        y = torch.from_numpy(self.targets(train))
        x = self._frozen_features(train) if self.trainer.fast else self._images(train)
        y_val = self.targets(val) if val else None
        return SegmenterFitData(
            train=train,
            val=val,
            class_names=list(class_names or ["background", "lesion"]),
            monitor=monitor,
            has_val=y_val is not None,
            sample_weights=checked_weights(sample_weights, len(train)),
            x=x,
            y=y,
            y_val=y_val,
            cache_seconds=time.perf_counter() - t0,
        )

    def plan_epoch(self, data: SegmenterFitData, rng: np.random.Generator) -> EpochPlan:
        w = None if data.sample_weights is None else torch.from_numpy(data.sample_weights)
        return EpochPlan(rng.permutation(len(data.train)), 0, w)

    def train_step(self, data: SegmenterFitData, plan: EpochPlan, idx: np.ndarray, rng) -> TrainStep:
        device = self.trainer.device
        rows = torch.from_numpy(idx)
        target = data.y[rows].to(device)
        if self.trainer.fast:
            feats = [f[rows].to(device).float() for f in data.x]
        else:
            batch = data.x[rows]
            if self.config.augmentation != "none":  # flips of image and mask together
                batch, target = _random_flips(batch, target, rng)
            with self.trainer.autocast():
                feats = self.model.encode(batch.to(device))
        with self.trainer.autocast():
            logits = self.model.decode(feats)[:, 0]
        weights = None if plan.extra is None else plan.extra[rows].to(device)
        return TrainStep(logits[:, None], target, weights, SegOutput(feats))

    def validate(self, data: SegmenterFitData) -> dict[str, float]:
        probs = self.predict(data.val)
        metrics = self.trainer.task.metrics(data.y_val, probs)
        p = np.clip(probs, 1e-6, 1 - 1e-6)
        y = data.y_val
        metrics[LOSS_MONITOR] = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
        return metrics

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def passes(self, records: Sequence[Record], mc_samples: int = 0, pool: int = 1):
        """Yield per batch: foreground probabilities (B, H, W), pooled deepest features (B, D) and, with
        `mc_samples`, T MC-dropout probability maps (T, B, H, W) (the encoder runs once, the decoder T
        times with dropout on the deepest features; batch norm stays in eval mode)."""
        self.model.eval()
        starts = range(0, len(records), INFER_BATCH)
        described = f"predicting {len(records)} masks (batches of {INFER_BATCH})"
        for start in progress(starts, described, enabled=self._shows(len(records))):
            chunk = records[start : start + INFER_BATCH]
            feats = self._features_of(chunk)
            with self.trainer.autocast():
                probs = torch.sigmoid(self.model.decode(feats)[:, 0].float()).cpu()
            emb = self.model.embed(feats, pool).float().cpu()
            mc = None
            if mc_samples:
                mc = torch.stack(
                    self.trainer.mc_dropout(
                        lambda f=feats: self._decode_probs(f), mc_samples, self.trainer.salt_of(chunk)
                    )
                )
            yield probs, emb, mc

    def _decode_probs(self, feats: list[torch.Tensor]) -> torch.Tensor:
        with self.trainer.autocast():
            return torch.sigmoid(self.model.decode(feats)[:, 0].float()).cpu()

    def predict(self, records: Sequence[Record], views: int | None = None) -> np.ndarray:
        """(N, H, W) foreground probabilities (float32)."""
        res = self.config.resolution
        out = [p.numpy() for p, _, _ in self.passes(records)]
        return np.concatenate(out) if out else np.empty((0, res, res), dtype=np.float32)

    def embed(self, records: Sequence[Record], pool: int = 1) -> np.ndarray:
        """(N, C * pool^2): the deepest encoder stage, adaptive-average-pooled (Zhao et al.'s AAP)."""
        out = [e.numpy() for _, e, _ in self.passes(records, pool=pool)]
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
        for probs, _, mc in self.passes(records, mc_samples):
            out["entropy"].append(binary_entropy(probs).mean((1, 2)).numpy())
            out["confidence"].append(torch.maximum(probs, 1 - probs).mean((1, 2)).numpy())
            if mc is not None:
                mean = mc.mean(0)
                mi = (binary_entropy(mean) - binary_entropy(mc).mean(0)).clamp_min(0.0)  # rounding noise
                out["mutual_information"].append(mi.mean((1, 2)).numpy())
        return {k: np.concatenate(v).astype(np.float64) for k, v in out.items() if v}

    def aux_sources(self, records: Sequence[Record]) -> Iterator[SegOutput]:
        for start in range(0, len(records), INFER_BATCH):
            yield SegOutput(self._features_of(records[start : start + INFER_BATCH]))

    def correct(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) 1 where an image's Jaccard reaches ISIC 2017's 0.65 (what the paired stopping test counts)."""
        return self.trainer.task.correct(self.targets(records), self.predict(records))

    def pseudo_masks(self, records: Sequence[Record], folder: Path) -> dict[str, str]:
        """CEAL's pseudo-labels (Wang et al. 2017): each image's predicted mask (0/255 PNG at the working
        resolution) written into `folder`; {id: path}."""
        from PIL import Image

        from lesionlab.io import atomic_file

        out = {}
        for r, p in zip(records, self.predict(records) > self.trainer.task.threshold, strict=True):
            path = Path(folder) / f"{r.id}_pseudo.png"
            with atomic_file(path) as fh:
                Image.fromarray((p * 255).astype(np.uint8)).save(fh, format="PNG")
            out[r.id] = str(path)
        return out

    def gallery_images(self, records: Sequence[Record], folder: Path) -> list[str]:
        """Overlays of the true (green) and predicted (red) lesion outlines on each image at the working
        resolution, written into `folder`."""
        from lesionlab.data.preprocess import load_image
        from lesionlab.evaluation.overlays import write_overlay

        pred = self.predict(records) > self.trainer.task.threshold
        size, out = self.config.resolution, []
        for r, p in zip(records, pred, strict=True):
            image = load_image(Path(r.image_path), size, "none", self.config.resize)
            truth = None if r.mask_path is None else self.targets([r])[0] > 0
            out.append(str(write_overlay(Path(folder) / f"{r.id}.png", image, truth, p)))
        return out


def _file_key(path: Path) -> tuple[str, int, int]:
    """A decoded mask's memo key: a file rewritten while a trainer lives (a corrected mask) is decoded
    again, where the path alone served the old mask. A missing file keys as such: `load_mask` names it."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


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
