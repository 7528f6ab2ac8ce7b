"""The classification runtime: a `LesionClassifier`'s inputs, batches and inference inside `Trainer`.

With `freeze_stages > 0` (the default on CPU) the first stages are frozen and their activations cached per
image and per fixed augmented view (`ActivationCache`); only the remaining stages and the head are trained.
`freeze_stages = 0` is ordinary full fine-tuning with fresh random augmentation every epoch (Shi et al.
2019's rotation, shear, scale and flips). `synthetic` adds fresh intra-class mosaics (Shi et al. 2019's
aggregative supervision) or mix-ups to every epoch, with soft targets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lesionlab.data.augment import augmented_views
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.models.classifier import ClassifierOutput
from lesionlab.progress import log_line, progress
from lesionlab.tasks import LOSS_MONITOR
from lesionlab.training.activations import ActivationCache, activation_key, fixed_batch, frozen_tap_stages
from lesionlab.training.fit_data import AUGMENTATIONS, checked_weights, class_weight_vector
from lesionlab.training.runtime import EpochPlan, FitData, TaskRuntime, TrainStep
from lesionlab.training.synthetic import epoch_samples

INFER_BATCH = 128


@dataclass
class ClassifierFitData(FitData):
    labels: np.ndarray | None = None
    x_train: torch.Tensor | None = None  # (V, N, ...) inputs of every fixed view
    x_val: torch.Tensor | None = None
    y_train: torch.Tensor | None = None  # (N, C) soft targets: one-hot for ordinary images
    sources: np.ndarray | None = None  # decoded training images for synthetic samples
    augment: object = None  # fresh random augmentation of full images (not on the fast path)


class ClassifierRuntime(TaskRuntime):
    """Images or cached trunk activations in, class probabilities and pooled embeddings out."""

    def __init__(self, trainer, cache_dir: Path | None) -> None:
        super().__init__(trainer, cache_dir)
        model, config = trainer.model, trainer.config
        # All stages frozen (freeze_stages == num_stages) trains the conv head and classifier only.
        if not 0 <= config.freeze_stages <= model.num_stages:
            raise ConfigError(
                f"freeze_stages must be in [0, {model.num_stages}] for {model.backbone_name}, "
                f"got {config.freeze_stages}"
            )
        self.model, self.config = model, config
        self.activations = (
            ActivationCache(
                model,
                config.freeze_stages,
                trainer.images,
                view_seed=0,  # views are a property of the data, shared by every seed and run
                cache_dir=cache_dir,
                device=trainer.device,
                show_progress=config.progress,
            )
            if trainer.fast
            else None
        )

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    def frozen_modules(self) -> list[torch.nn.Module]:
        return self.model.trunk_modules(self.config.freeze_stages) if self.activations is not None else []

    # ---------------------------------------------------------------- inputs
    def inputs(self, records: Sequence[Record], n_views: int = 1) -> torch.Tensor:
        """(V, N, C, h, w) float16 activations (fast path) or (V, N, H, W, 3) uint8 images (full).

        Both paths see the same fixed views: seeded by view 0 and each file's content key, as the
        activation cache seeds them. When an auxiliary head reads frozen stages, their pooled outputs ride
        along as extra channels of the activations (`ActivationCache.get(taps=...)`; `forward` unpacks them).
        """
        if not records:  # consumers take a view x[v] and loop over its zero rows: empty outputs, right widths
            return torch.empty(n_views, 0)
        paths = [r.image_path for r in records]
        if self.activations is not None:
            taps = frozen_tap_stages(self.trainer.aux_heads, self.config.freeze_stages)
            if taps and self.config.synthetic != "none":  # synthetic images have no cached taps
                raise ConfigError("train.synthetic needs freeze_stages: 0 with a head reading frozen stages")
            return self.activations.get(paths, n_views, taps=taps)
        images = self.trainer.images.get_many(paths, progress=self.config.progress)
        if n_views == 1:
            return torch.from_numpy(images)[None]
        keys = [activation_key(Path(p)) for p in paths]
        return torch.from_numpy(augmented_views(images, n_views, 0, keys=keys))

    @torch.inference_mode()
    def trunk_activations(self, images: torch.Tensor) -> torch.Tensor:
        """Float16 frozen-trunk activations (N, C, h, w) of (N, H, W, 3) images, as the cache holds them."""
        self.model.eval()
        batch = self.activations.batch_size if self.activations is not None else 64
        out = [torch.empty(0, dtype=torch.float16)]
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            x = chunk.to(self.trainer.device).permute(0, 3, 1, 2).float().div_(255)
            # The cache's fixed batch shape, so these equal the cached activations of the same images.
            x = fixed_batch(x, batch).contiguous(memory_format=torch.channels_last)
            out.append(self.model.run_trunk(x, self.config.freeze_stages)[: len(chunk)].half().cpu())
        return torch.cat(out)

    def forward(self, batch: torch.Tensor, augment=None) -> ClassifierOutput:
        """The model's outputs for a batch of prepared inputs; `augment` is applied to full images only."""
        trainer = self.trainer
        batch = batch.to(trainer.device, non_blocking=True)
        if self.activations is not None:
            taps = frozen_tap_stages(trainer.aux_heads, self.config.freeze_stages)
            x, pooled = self.activations.unpack(batch.float(), taps)
            with trainer.autocast():
                out = self.model.run_tail(trainer.as_memory_format(x), self.config.freeze_stages)
            out.pooled_taps = pooled
            return out
        x = batch.permute(0, 3, 1, 2)
        if augment is not None:
            x = torch.stack([augment(img) for img in x])
        x = trainer.as_memory_format(x.float().div_(255))
        with trainer.autocast():
            return self.model.forward_all(x)

    # ---------------------------------------------------------------- fit
    def prepare(self, train, val, class_names, sample_weights) -> ClassifierFitData:
        """Check labels, load (or cache) inputs once, and fix targets, class weights and the monitor."""
        cfg, num_classes = self.config, self.num_classes
        labels = _checked_labels(train, num_classes)
        val = [r for r in val if r.label is not None]
        monitor = self.trainer.task.check_metric(cfg.monitor, num_classes, "train.monitor", allow_loss=True)
        if val and monitor != LOSS_MONITOR and len({r.label for r in val}) < 2:
            log_line(
                f"warning: the validation split holds one class only, so {monitor} is undefined on it; "
                "the epoch is picked on the validation loss instead",
                enabled=True,
            )
            monitor = LOSS_MONITOR
        t0 = time.perf_counter()
        x_train = self.inputs(train, cfg.views if self.activations is not None else 1)
        x_val = self.inputs(val) if len(val) else None
        sources = None  # plain decoded training images for synthetic samples, decoded once per fit
        if cfg.synthetic != "none":
            sources = (
                self.trainer.images.get_many([r.image_path for r in train])
                if self.activations is not None
                else x_train[0].numpy()
            )
        recipe = AUGMENTATIONS[cfg.augmentation]
        augment = recipe() if self.activations is None and recipe is not None else None
        counts = np.bincount(labels.astype(int), minlength=num_classes).astype(float)
        weights = class_weight_vector(counts, cfg.class_weights)
        return ClassifierFitData(
            train=train,
            val=val,
            class_names=list(class_names or [str(i) for i in range(num_classes)]),
            monitor=monitor,
            has_val=x_val is not None,
            class_weights=None if weights is None else weights.to(self.trainer.device),
            sample_weights=checked_weights(sample_weights, len(train)),
            labels=labels,
            x_train=x_train,
            x_val=x_val,
            # Soft targets throughout: one-hot for ordinary images and mosaics, mixtures for mix-ups.
            y_train=torch.eye(num_classes)[torch.from_numpy(labels.astype(np.int64))],
            sources=sources,
            augment=augment,
            cache_seconds=time.perf_counter() - t0,
        )

    def _synthetic(
        self, data: ClassifierFitData, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's synthetic inputs, shaped like one view of `inputs`, and their soft targets (M, C)."""
        cfg = self.config
        if data.sources is None:
            return torch.empty(0), torch.empty(0, self.num_classes)
        x, soft = epoch_samples(
            data.sources,
            data.labels,
            self.num_classes,
            cfg.synthetic,
            cfg.synthetic_ratio,
            rng,
            cfg.mosaic_mode,
            cfg.mixup_alpha,
        )
        inputs = torch.from_numpy(x)
        if self.activations is not None and len(inputs):
            # The trunk is frozen, so new images only need one pass through it per epoch.
            inputs = self.trunk_activations(inputs).clone()
        return inputs, torch.from_numpy(soft)

    def plan_epoch(self, data: ClassifierFitData, rng: np.random.Generator) -> EpochPlan:
        """Draw this epoch's synthetic samples, the order (synthetic indices after the real ones) and a fixed
        view per real image."""
        x_syn, y_syn = self._synthetic(data, rng)
        n_real = len(data.train)
        order = rng.permutation(n_real + len(y_syn))
        views = rng.integers(0, data.x_train.shape[0], size=n_real)
        weights = None if data.sample_weights is None else torch.from_numpy(data.sample_weights).float()
        return EpochPlan(order, len(y_syn), (x_syn, y_syn, views, weights))

    def train_step(self, data: ClassifierFitData, plan: EpochPlan, idx: np.ndarray, rng) -> TrainStep:
        x_syn, y_syn, views, weights = plan.extra
        n_real = len(data.train)
        real, syn = idx[idx < n_real], idx[idx >= n_real] - n_real
        batch = data.x_train[torch.from_numpy(views[real]), torch.from_numpy(real)]
        target = data.y_train[real]
        batch_weights = None if weights is None else weights[real]
        if len(syn):
            batch = torch.cat([batch.to(x_syn.dtype), x_syn[torch.from_numpy(syn)]])
            target = torch.cat([target, y_syn[torch.from_numpy(syn)]])
            if batch_weights is not None:  # synthetic samples count fully
                batch_weights = torch.cat([batch_weights, torch.ones(len(syn))])
        out = self.forward(batch, augment=data.augment)
        device = self.trainer.device
        batch_weights = None if batch_weights is None else batch_weights.to(device)
        return TrainStep(out.logits, target.to(device), batch_weights, out)

    def validate(self, data: ClassifierFitData) -> dict[str, float]:
        probs = self._outputs_from(data.x_val[0])[0]
        val_labels = np.array([r.label for r in data.val])
        metrics = self.trainer.task.metrics(val_labels, probs, data.class_names)
        metrics[LOSS_MONITOR] = float(
            F.nll_loss(
                torch.log(torch.from_numpy(probs).clamp_min(1e-12)),
                torch.from_numpy(val_labels.astype(np.int64)),
            )
        )
        return metrics

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def _outputs_from(
        self, x: torch.Tensor, mc_samples: int = 0, salt: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities, embeddings and (if asked) MC-dropout probabilities (T, N, C) for prepared inputs."""
        self.model.eval()
        probs, embeds = [], []
        n, starts = x.shape[0], range(0, x.shape[0], INFER_BATCH)
        if self.config.progress and n > INFER_BATCH:  # one batch is quick; a pool of thousands is not
            starts = progress(starts, f"predicting {n} images")
        for start in starts:
            out = self.forward(x[start : start + INFER_BATCH])
            probs.append(torch.softmax(out.logits.float(), dim=1).cpu())
            embeds.append(out.embedding.float().cpu())
        embedding = torch.cat(embeds) if embeds else torch.empty(0, self.model.embed_dim)
        mc = np.empty((0,))
        if mc_samples:
            # Dropout sits between the pooled embedding and the classifier, so T stochastic passes only
            # need the head.
            emb = embedding.to(self.trainer.device)
            passes = self.trainer.mc_dropout(
                lambda: torch.softmax(self.model.classify_embedding(emb).float(), 1).cpu(), mc_samples, salt
            )
            mc = np.stack([p.numpy() for p in passes])
        prob = torch.cat(probs).numpy() if probs else np.empty((0, self.num_classes))
        return prob, embedding.numpy(), mc

    def probs_from(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities (N, C) of prepared inputs: one view of `inputs`, or images' activations (the
        candidate patches of active, continual fine-tuning come this way)."""
        return self._outputs_from(x)[0]

    def predict(self, records: Sequence[Record], views: int | None = None) -> np.ndarray:
        """Class probabilities (N, C), averaged over `views` fixed views (default: the config's
        `tta_views`; 1 is the plain image alone)."""
        return self.view_probs(records, self.config.tta_views if views is None else views).mean(axis=0)

    def view_probs(self, records: Sequence[Record], views: int) -> np.ndarray:
        """Class probabilities (V, N, C) of each of the first `views` fixed views of every image.

        View v of an image is the same whatever `views` is, so the mean of the first k rows is
        `predict(records, views=k)`: one call scores several view counts.
        """
        if views < 1:
            raise ConfigError(f"views must be >= 1, got {views}")
        x = self.inputs(records, views)
        return np.stack([self._outputs_from(x[v])[0] for v in range(views)])

    def embed(self, records: Sequence[Record]) -> np.ndarray:
        """Pooled embeddings (N, D), the input of the classifier layer."""
        return self._outputs_from(self.inputs(records)[0])[1]

    def view_embeddings(self, records: Sequence[Record], views: int) -> np.ndarray:
        """Pooled embeddings (V, N, D) of each of the first `views` fixed views (row 0 is `embed`)."""
        if views < 1:
            raise ConfigError(f"views must be >= 1, got {views}")
        x = self.inputs(records, views)
        return np.stack([self._outputs_from(x[v])[1] for v in range(views)])

    def embed_arrays(self, images: np.ndarray) -> np.ndarray:
        """Pooled embeddings (N, D) of images not on disk (e.g. mosaics): uint8 (N, H, W, 3), no cache."""
        images = np.asarray(images)
        size = self.config.resolution
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"images must be (N, {size}, {size}, 3), got shape {images.shape}")
        x = torch.from_numpy(np.ascontiguousarray(images))
        if self.activations is not None:  # the same float16 trunk activations `embed` reads from the cache
            x = self.trunk_activations(x)
        return self._outputs_from(x)[1]

    def outputs(
        self, records: Sequence[Record], mc_samples: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities, embeddings and MC-dropout probabilities in one pass over `records`. The dropout
        masks depend on the records' ids, so the chunks of a streamed pool draw different masks."""
        return self._outputs_from(self.inputs(records)[0], mc_samples, self.trainer.salt_of(records))

    def aux_sources(self, records: Sequence[Record]) -> Iterator[ClassifierOutput]:
        x = self.inputs(records)[0]
        for start in range(0, x.shape[0], INFER_BATCH):
            yield self.forward(x[start : start + INFER_BATCH])

    def release(self, records: Sequence[Record]) -> None:
        if self.activations is not None:
            self.activations.release([r.image_path for r in records])

    def targets(self, records: Sequence[Record]) -> np.ndarray:
        return np.array([r.label for r in records])

    def correct(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) 1 where the predicted class is the label (what Shi et al.'s paired stopping test counts)."""
        return (self.predict(records).argmax(1) == self.targets(records)).astype(int)

    def gallery_images(self, records: Sequence[Record], folder: Path) -> list[str]:
        """The images themselves (`folder` is not needed)."""
        return [str(r.image_path) for r in records]


def _checked_labels(train: Sequence[Record], num_classes: int) -> np.ndarray:
    """The training labels as an array; an empty set, a missing label or one out of range is a ConfigError."""
    if len(train) == 0:
        raise ConfigError("nothing to train on: the training set is empty")
    unlabeled = [r.id for r in train if r.label is None]
    if unlabeled:
        raise ConfigError(
            f"{len(unlabeled)} training image(s) have no label, e.g. {unlabeled[:3]}: "
            "give them a label or move them out of the train split"
        )
    labels = np.array([r.label for r in train])
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ConfigError(f"training labels must be integers in [0, {num_classes - 1}]")
    return labels
