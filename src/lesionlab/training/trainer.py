"""fit / predict / embed for a `LesionClassifier`, with paper 000's defaults and a CPU fast path.

Defaults follow Shi et al. 2019: weighted cross-entropy, Adam at 1e-4, rotation/shear/scale/flip
augmentation, gray-world colour constancy, the epoch picked on a validation split. With
`freeze_stages > 0` (the default on CPU) the first stages are frozen and their activations cached per image
and per fixed augmented view (`ActivationCache`); only the remaining stages and the head are trained.
`freeze_stages = 0` is ordinary full fine-tuning with fresh random augmentation every epoch.
`synthetic` adds fresh mosaics (paper 000's aggregative supervision) or mix-ups to every epoch.
"""

from __future__ import annotations

import copy
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lesionlab.config import TrainConfig
from lesionlab.data.augment import augmented_views
from lesionlab.data.cache import ImageCache
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.models.classifier import ClassifierOutput, LesionClassifier
from lesionlab.progress import eta, log_line, progress, say_once
from lesionlab.tasks import LOSS_MONITOR, ClassificationTask, Task
from lesionlab.training.activations import ActivationCache, activation_key, fixed_batch, frozen_tap_stages
from lesionlab.training.auxiliary import AuxiliaryHead, EpochCallback, EpochEnd
from lesionlab.training.device import seed_everything, seeded, select_device, set_threads
from lesionlab.training.early_stopping import EarlyStopping
from lesionlab.training.fit_data import (  # noqa: F401  (CLASS_WEIGHTS, class_weight_vector: public here too)
    AUGMENTATIONS,
    CLASS_WEIGHTS,
    FitData,
    FitResult,
    _checked_weights,
    class_weight_vector,
)
from lesionlab.training.losses import build_loss
from lesionlab.training.synthetic import epoch_samples


class Trainer:
    """Trains and applies one model; images and trunk activations are cached across calls."""

    def __init__(
        self,
        model: LesionClassifier,
        config: TrainConfig,
        cache_dir: Path | None = None,
        task: Task | None = None,
        aux_heads: Sequence[AuxiliaryHead] = (),
        callbacks: Sequence[EpochCallback] = (),
    ) -> None:
        """`aux_heads` train jointly with the model; `callbacks` run after every epoch (see auxiliary.py)."""
        if not 0 <= config.freeze_stages < model.num_stages:
            raise ConfigError(
                f"freeze_stages must be in [0, {model.num_stages - 1}] for {model.backbone_name}, "
                f"got {config.freeze_stages}"
            )
        self.config = config
        self.model = model
        self.task = task or ClassificationTask()
        loss_name = self.task.default_loss if config.loss == "auto" else config.loss
        # A configured loss may bring epoch callbacks (LoOP re-weighting, estimating T): they run first.
        setup = build_loss(loss_name, config, model.num_classes)
        self.loss_fn = setup.loss
        self.task.check_metric(config.monitor, model.num_classes, "train.monitor", allow_loss=True)
        self.aux_heads = list(aux_heads)
        self.callbacks = [*setup.callbacks, *callbacks]
        self.device = select_device(config.device)
        set_threads(config.num_threads)
        self.model.to(self.device)
        for head in self.aux_heads:
            head.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.images = ImageCache(cache_dir, config.resolution, config.preprocessing, config.resize)
        self.fast = config.freeze_stages > 0
        self.activations = (
            ActivationCache(
                model,
                config.freeze_stages,
                self.images,
                view_seed=0,  # views are a property of the data, shared by every seed and run
                cache_dir=cache_dir,
                device=self.device,
                show_progress=config.progress,
            )
            if self.fast
            else None
        )
        if self.fast:
            for module in model.trunk_modules(config.freeze_stages):
                module.requires_grad_(False)

    # ---------------------------------------------------------------- inputs
    def _inputs(self, records: Sequence[Record], n_views: int = 1) -> torch.Tensor:
        """(V, N, C, h, w) float16 activations (fast path) or (V, N, H, W, 3) uint8 images (full).

        Both paths see the same fixed views: seeded by view 0 and each file's content key, as the
        activation cache seeds them. When an auxiliary head reads frozen stages, their pooled outputs ride
        along as extra channels of the activations (`ActivationCache.get(taps=...)`; `_forward` unpacks them).
        """
        if not records:  # consumers take a view x[v] and loop over its zero rows: empty outputs, right widths
            return torch.empty(n_views, 0)
        paths = [r.image_path for r in records]
        if self.activations is not None:
            taps = frozen_tap_stages(self.aux_heads, self.config.freeze_stages)
            if taps and self.config.synthetic != "none":  # synthetic images have no cached taps
                raise ConfigError("train.synthetic needs freeze_stages: 0 with a head reading frozen stages")
            return self.activations.get(paths, n_views, taps=taps)
        images = self.images.get_many(paths, progress=self.config.progress)
        if n_views == 1:
            return torch.from_numpy(images)[None]
        keys = [activation_key(Path(p)) for p in paths]
        return torch.from_numpy(augmented_views(images, n_views, 0, keys=keys))

    @torch.inference_mode()
    def _trunk_activations(self, images: torch.Tensor) -> torch.Tensor:
        """Float16 frozen-trunk activations (N, C, h, w) of (N, H, W, 3) images, as the cache holds them."""
        self.model.eval()
        batch = self.activations.batch_size if self.activations is not None else 64
        out = [torch.empty(0, dtype=torch.float16)]
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            x = chunk.to(self.device).permute(0, 3, 1, 2).float().div_(255)
            # The cache's fixed batch shape, so these equal the cached activations of the same images.
            x = fixed_batch(x, batch).contiguous(memory_format=torch.channels_last)
            out.append(self.model.run_trunk(x, self.config.freeze_stages)[: len(chunk)].half().cpu())
        return torch.cat(out)

    def _synthetic(
        self, images: np.ndarray | None, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's synthetic inputs, shaped like one view of `_inputs`, and their soft targets (M, C)."""
        cfg, num_classes = self.config, self.model.num_classes
        if images is None:
            return torch.empty(0), torch.empty(0, num_classes)
        kind, ratio = cfg.synthetic, cfg.synthetic_ratio
        x, soft = epoch_samples(
            images, labels, num_classes, kind, ratio, rng, cfg.mosaic_mode, cfg.mixup_alpha
        )
        inputs = torch.from_numpy(x)
        if self.fast and len(inputs):
            # The trunk is frozen, so new images only need one pass through it per epoch.
            inputs = self._trunk_activations(inputs).clone()
        return inputs, torch.from_numpy(soft)

    def _forward(self, batch: torch.Tensor, train: bool, augment=None) -> ClassifierOutput:
        batch = batch.to(self.device, non_blocking=True)
        if self.fast:
            taps = frozen_tap_stages(self.aux_heads, self.config.freeze_stages)
            x, pooled = self.activations.unpack(batch.float(), taps)
            if self.config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", enabled=self.use_amp):
                out = self.model.run_tail(x, self.config.freeze_stages)
            out.pooled_taps = pooled
            return out
        x = batch.permute(0, 3, 1, 2)
        if train and augment is not None:
            x = torch.stack([augment(img) for img in x])
        x = x.float().div_(255)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", enabled=self.use_amp):
            return self.model.forward_all(x)

    def _trainable(self) -> list[torch.nn.Parameter]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return params + [p for head in self.aux_heads for p in head.parameters()]

    def _train_mode(self) -> None:
        self.model.train()
        for head in self.aux_heads:
            head.train()
        if self.fast:  # frozen stages keep their ImageNet batch-norm statistics
            for module in self.model.trunk_modules(self.config.freeze_stages):
                module.eval()

    def _state(self) -> dict:
        """Weights of the model and every auxiliary head: what early stopping keeps and restores."""
        return copy.deepcopy(
            {"model": self.model.state_dict(), **{f"aux.{h.name}": h.state_dict() for h in self.aux_heads}}
        )

    def _load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for head in self.aux_heads:
            head.load_state_dict(state[f"aux.{head.name}"])

    # ---------------------------------------------------------------- fit
    def fit(
        self,
        train: Sequence[Record],
        val: Sequence[Record] = (),
        class_names: Sequence[str] | None = None,
        sample_weights: np.ndarray | None = None,
    ) -> FitResult:
        """Train on `train`; when `val` is given keep the epoch with the best validation score.

        `sample_weights` (one per training record, >= 0) scale each record's loss; epoch callbacks may
        change them between epochs. Unlabelled validation records are left out of validation.
        """
        cfg = self.config
        rng = seed_everything(cfg.seed)
        data = self._prepare(train, val, class_names, sample_weights)
        optimizer = torch.optim.Adam(self._trainable(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        augment = (
            None
            if self.fast or AUGMENTATIONS[cfg.augmentation] is None
            else AUGMENTATIONS[cfg.augmentation]()
        )
        result = FitResult(best_epoch=cfg.epochs, best_score=None, monitor=data.monitor)
        stopping = EarlyStopping(cfg.patience)
        seen = 0
        t_train = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            row, n_seen = self._train_epoch(data, epoch, optimizer, scaler, augment, rng)
            seen += n_seen
            result.synthetic_per_epoch.append(row["n_synthetic"])
            if data.x_val is not None:
                metrics, score = self._validate(data)
                data.last_val_score = metrics.get(data.monitor)
                row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)})
                if stopping.update(score, epoch):
                    result.best_score, result.best_epoch = stopping.best_score, epoch
                    stopping.keep(self._state())
            event = EpochEnd(self, epoch, data.train, data.sample_weights, row)
            for callback in self.callbacks:
                callback(event)
            data.sample_weights = _checked_weights(event.sample_weights, len(data.train))
            result.history.append(row)
            self._log_epoch(row, result, epoch, time.perf_counter() - t_train)
            if data.x_val is not None and stopping.should_stop():
                break
        if stopping.best_state is not None:
            self._load_state(stopping.best_state)
        if data.x_val is None:
            result.best_epoch = len(result.history)
        elif result.best_epoch == cfg.epochs and cfg.epochs > 1:
            note_last_epoch_best(cfg.epochs, cfg.progress)
        result.train_seconds = time.perf_counter() - t_train
        result.cache_seconds = data.cache_seconds
        result.images_per_second = seen / max(result.train_seconds, 1e-9)
        return result

    def _prepare(
        self,
        train: Sequence[Record],
        val: Sequence[Record],
        class_names: Sequence[str] | None,
        sample_weights: np.ndarray | None,
    ) -> FitData:
        """Check labels, load (or cache) inputs once, and fix targets, class weights and the monitor."""
        cfg = self.config
        num_classes = self.model.num_classes
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
        val = [r for r in val if r.label is not None]
        class_names = list(class_names or [str(i) for i in range(num_classes)])
        monitor = self.task.check_metric(cfg.monitor, num_classes, "train.monitor", allow_loss=True)
        if val and monitor != LOSS_MONITOR and len({r.label for r in val}) < 2:
            log_line(
                f"warning: the validation split holds one class only, so {monitor} is undefined on it; "
                "the epoch is picked on the validation loss instead",
                enabled=True,
            )
            monitor = LOSS_MONITOR
        t0 = time.perf_counter()
        x_train = self._inputs(train, cfg.views if self.fast else 1)
        x_val = self._inputs(val) if len(val) else None
        sources = None  # plain decoded training images for synthetic samples, decoded once per fit
        if cfg.synthetic != "none":
            sources = self.images.get_many([r.image_path for r in train]) if self.fast else x_train[0].numpy()
        counts = np.bincount(labels.astype(int), minlength=num_classes).astype(float)
        weights = class_weight_vector(counts, cfg.class_weights)
        return FitData(
            train=train,
            val=val,
            class_names=class_names,
            labels=labels,
            x_train=x_train,
            x_val=x_val,
            # Soft targets throughout: one-hot for ordinary images and mosaics, mixtures for mix-ups.
            y_train=torch.eye(num_classes)[torch.from_numpy(labels.astype(np.int64))],
            sources=sources,
            class_weights=None if weights is None else weights.to(self.device),
            monitor=monitor,
            sample_weights=_checked_weights(sample_weights, len(train)),
            cache_seconds=time.perf_counter() - t0,
        )

    def _train_epoch(self, data: FitData, epoch: int, optimizer, scaler, augment, rng) -> tuple[dict, int]:
        """One pass over the labelled images (a fresh view each) and this epoch's synthetic samples."""
        cfg = self.config
        x_syn, y_syn = self._synthetic(data.sources, data.labels, rng)
        self._train_mode()
        n_real = len(data.train)
        order = rng.permutation(n_real + len(y_syn))  # indices >= n_real are synthetic samples
        views = rng.integers(0, data.x_train.shape[0], size=n_real)
        weights = None if data.sample_weights is None else torch.from_numpy(data.sample_weights).float()
        total_loss, aux_totals, seen = 0.0, {h.name: 0.0 for h in self.aux_heads}, 0
        batches = range(0, len(order), cfg.batch_size)
        last = data.last_val_score
        note = "" if last is None else f" (last val {data.monitor} {last:.3f})"
        for start in progress(batches, f"epoch {epoch}/{cfg.epochs}{note}", enabled=cfg.progress):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # batch norm cannot train on a single sample
            real, syn = idx[idx < n_real], idx[idx >= n_real] - n_real
            batch = data.x_train[torch.from_numpy(views[real]), torch.from_numpy(real)]
            target = data.y_train[real]
            batch_weights = None if weights is None else weights[real]
            if len(syn):
                batch = torch.cat([batch.to(x_syn.dtype), x_syn[torch.from_numpy(syn)]])
                target = torch.cat([target, y_syn[torch.from_numpy(syn)]])
                if batch_weights is not None:  # synthetic samples count fully
                    batch_weights = torch.cat([batch_weights, torch.ones(len(syn))])
            out = self._forward(batch, train=True, augment=augment)
            if batch_weights is not None:
                batch_weights = batch_weights.to(self.device)
            task_loss = self.loss_fn(out.logits.float(), target.to(self.device), data.class_weights)
            loss = task_loss.mean(batch_weights)
            for head in self.aux_heads:
                aux = head.loss(head(out), task_loss, batch_weights)
                aux_totals[head.name] += aux.item() * len(idx)
                loss = loss + head.weight * aux
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total_loss += loss.item() * len(idx)
            seen += len(idx)
        row = {"epoch": epoch, "train_loss": total_loss / len(order), "n_synthetic": len(y_syn)}
        row.update({f"train_{name}_loss": v / len(order) for name, v in aux_totals.items()})
        return row, seen

    def _validate(self, data: FitData) -> tuple[dict, float]:
        """The task's metrics and the validation loss on the plain validation images, and the score that
        early stopping compares (higher is better: the negative loss when monitoring the loss)."""
        probs = self._probs_from(data.x_val[0])
        val_labels = np.array([r.label for r in data.val])
        metrics = self.task.metrics(val_labels, probs, data.class_names)
        metrics[LOSS_MONITOR] = float(
            F.nll_loss(
                torch.log(torch.from_numpy(probs).clamp_min(1e-12)),
                torch.from_numpy(val_labels.astype(np.int64)),
            )
        )
        score = -metrics[LOSS_MONITOR] if data.monitor == LOSS_MONITOR else metrics[data.monitor]
        return metrics, score

    def _log_epoch(self, row: dict, result: FitResult, epoch: int, elapsed: float) -> None:
        """One line per epoch where no progress bar shows (logs, CI): loss, validation score, time, ETA."""
        cfg = self.config
        val = row.get(f"val_{result.monitor}")
        score = "" if val is None else f", val {result.monitor} {val:.3f} (best epoch {result.best_epoch})"
        log_line(
            f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.4f}{score}, "
            f"{elapsed:.0f} s, {eta(epoch, cfg.epochs, elapsed)}",
            cfg.progress,
        )

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def _outputs_from(
        self, x: torch.Tensor, mc_samples: int = 0, salt: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities, embeddings and (if asked) MC-dropout probabilities (T, N, C) for prepared inputs;
        the dropout masks are drawn from (the trainer's seed, `salt`)."""
        self.model.eval()
        probs, embeds = [], []
        n, starts = x.shape[0], range(0, x.shape[0], 128)
        if self.config.progress and n > 128:  # one batch is quick; a pool of thousands is not
            starts = progress(starts, f"predicting {n} images")
        for start in starts:
            out = self._forward(x[start : start + 128], train=False)
            probs.append(torch.softmax(out.logits.float(), dim=1).cpu())
            embeds.append(out.embedding.float().cpu())
        embedding = torch.cat(embeds) if embeds else torch.empty(0, self.model.embed_dim)
        mc = np.empty((0,))
        if mc_samples:
            # Dropout sits between the pooled embedding and the classifier, so T stochastic passes only
            # need the head; batch norm stays in eval mode as MC dropout requires.
            self.model.dropout.train()
            emb = embedding.to(self.device)
            with seeded(self.config.seed, self.device, salt):
                mc = np.stack(
                    [
                        torch.softmax(self.model.classify_embedding(emb).float(), 1).cpu().numpy()
                        for _ in range(mc_samples)
                    ]
                )
            self.model.dropout.eval()
        prob = torch.cat(probs).numpy() if probs else np.empty((0, self.model.num_classes))
        return prob, embedding.numpy(), mc

    def _probs_from(self, x: torch.Tensor) -> np.ndarray:
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
        x = self._inputs(records, views)
        return np.stack([self._probs_from(x[v]) for v in range(views)])

    def embed(self, records: Sequence[Record]) -> np.ndarray:
        """Pooled embeddings (N, D), the input of the classifier layer."""
        return self._outputs_from(self._inputs(records)[0])[1]

    def view_embeddings(self, records: Sequence[Record], views: int) -> np.ndarray:
        """Pooled embeddings (V, N, D) of each of the first `views` fixed views (row 0 is `embed`)."""
        if views < 1:
            raise ConfigError(f"views must be >= 1, got {views}")
        x = self._inputs(records, views)
        return np.stack([self._outputs_from(x[v])[1] for v in range(views)])

    def embed_arrays(self, images: np.ndarray) -> np.ndarray:
        """Pooled embeddings (N, D) of images not on disk (e.g. mosaics): uint8 (N, H, W, 3), no cache."""
        images = np.asarray(images)
        size = self.config.resolution
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"images must be (N, {size}, {size}, 3), got shape {images.shape}")
        x = torch.from_numpy(np.ascontiguousarray(images))
        if self.fast:  # the same float16 trunk activations `embed` reads from the cache
            x = self._trunk_activations(x)
        return self._outputs_from(x)[1]

    def outputs(
        self, records: Sequence[Record], mc_samples: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities, embeddings and MC-dropout probabilities in one pass over `records`. The dropout
        masks depend on the records' ids, so the chunks of a streamed pool draw different masks."""
        salt = zlib.crc32("\n".join(r.id for r in records).encode())
        return self._outputs_from(self._inputs(records)[0], mc_samples, salt)

    @torch.inference_mode()
    def aux_predict(self, records: Sequence[Record]) -> dict[str, np.ndarray]:
        """Each auxiliary head's prediction (N,) for `records` (e.g. the predicted loss), on plain images."""
        x = self._inputs(records)[0]
        self.model.eval()
        for head in self.aux_heads:
            head.eval()
        preds: dict[str, list[torch.Tensor]] = {h.name: [] for h in self.aux_heads}
        for start in range(0, x.shape[0], 128):
            out = self._forward(x[start : start + 128], train=False)
            for head in self.aux_heads:
                preds[head.name].append(head(out).float().cpu())
        return {name: torch.cat(p).numpy() if p else np.empty(0) for name, p in preds.items()}

    def evaluate(self, records: Sequence[Record], classes: Sequence[str]) -> dict:
        """The task's metrics of `records` (labelled) under `predict`: what the runner reports per round."""
        return self.task.metrics(np.array([r.label for r in records]), self.predict(records), classes)

    def correct(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) 1 where the predicted class is the label (what paper 000's paired stopping test counts)."""
        return (self.predict(records).argmax(1) == np.array([r.label for r in records])).astype(int)

    def gallery_images(self, records: Sequence[Record], folder: Path) -> list[str]:
        """What the report shows for selected images: the images themselves (`folder` is not needed)."""
        return [str(r.image_path) for r in records]

    def describe(self) -> dict:
        return {**self.config.model_dump(), "device": str(self.device), "fast_path": self.fast}


def note_last_epoch_best(epochs: int, enabled: bool) -> None:
    """Say once per process that validation was still improving at the last epoch allowed.

    Once, not per fit: an experiment fits every round, and the same advice sixteen times (or eight in the
    demo, where epochs are fixed) drowns the round lines.
    """
    say_once(
        "best-epoch-is-last",
        f"note: the best validation epoch is the last allowed ({epochs}); more epochs (train.epochs) may "
        "help (said once per run)",
        enabled,
    )
