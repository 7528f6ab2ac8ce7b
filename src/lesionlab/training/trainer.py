"""One `Trainer` for every task: fit / predict / embed with early stopping, callbacks and auxiliary heads.

What every task shares exists here once: the epoch loop, the epoch picked on a validation split (early
stopping keeps its weights), epoch callbacks (LoOP re-weighting, estimating a noise transition matrix),
auxiliary heads trained jointly (the learned loss predictor), the checkpoint state, mixed precision and
channels_last on CUDA, seeded MC dropout, and one log line per epoch. What differs by task (inputs and
targets, their caches, one training batch, validation metrics, inference) comes from the task's runtime
(`Task.runtime()`, see training/runtime.py): `ClassifierRuntime` or `SegmenterRuntime` for the built-ins.

Classification defaults follow Shi et al. 2019 ("An active learning approach for reducing annotation cost in
skin lesion analysis"): weighted cross-entropy, Adam at 1e-4, the epoch picked on a validation split. With
`freeze_stages > 0` (the default on CPU) the first stages are frozen and, for classification, their
activations cached per image and per fixed augmented view; segmentation freezes the encoder and keeps its
feature maps. `freeze_stages: 0` is ordinary full fine-tuning.
"""

from __future__ import annotations

import contextlib
import copy
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionlab.config import TrainConfig
from lesionlab.data.cache import ImageCache
from lesionlab.data.records import Record
from lesionlab.progress import eta, log_line, progress, say_once
from lesionlab.tasks import LOSS_MONITOR, Task, get_task
from lesionlab.training.auxiliary import AuxiliaryHead, EpochCallback, EpochEnd
from lesionlab.training.device import seed_everything, seeded, select_device, set_threads
from lesionlab.training.early_stopping import EarlyStopping
from lesionlab.training.fit_data import (  # noqa: F401  (public here too, as before)
    AUGMENTATIONS,
    CLASS_WEIGHTS,
    FitResult,
    checked_weights,
    class_weight_vector,
)
from lesionlab.training.losses import build_loss
from lesionlab.training.runtime import EpochPlan, FitData, TaskRuntime


class Trainer:
    """Trains and applies one model of one task; the task's runtime caches images, activations and masks."""

    def __init__(
        self,
        model: Any,
        config: TrainConfig,
        cache_dir: Path | None = None,
        task: Task | None = None,
        aux_heads: Sequence[AuxiliaryHead] = (),
        callbacks: Sequence[EpochCallback] = (),
    ) -> None:
        """`task` defaults to the one the model serves (`model.task`); `aux_heads` train jointly with the
        model; `callbacks` run after every epoch (see auxiliary.py)."""
        self.config = config
        self.model = model
        self.task = task or get_task(model.task)
        self.aux_heads = list(aux_heads)
        self.device = select_device(config.device)
        set_threads(config.num_threads)
        self.fast = config.freeze_stages > 0
        self.use_amp = config.amp and self.device.type == "cuda"
        self.images = ImageCache(cache_dir, config.resolution, config.preprocessing, config.resize)
        self.runtime: TaskRuntime = self.task.runtime()(self, cache_dir)
        loss_name = self.task.default_loss if config.loss == "auto" else config.loss
        # A configured loss may bring epoch callbacks (LoOP re-weighting, estimating T): they run first.
        setup = build_loss(loss_name, config, self.runtime.num_classes)
        self.loss_fn = setup.loss
        self.callbacks = [*setup.callbacks, *callbacks]
        self.task.check_metric(config.monitor, self.runtime.num_classes, "train.monitor", allow_loss=True)
        self.model.to(self.device)
        for head in self.aux_heads:
            head.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        for module in self.runtime.frozen_modules():
            module.requires_grad_(False)

    # ---------------------------------------------------------------- shared by every runtime
    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision around a forward pass (CUDA with `train.amp` only; a no-op elsewhere)."""
        return torch.autocast("cuda", enabled=self.use_amp)

    def as_memory_format(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in the model's memory format (channels_last when configured)."""
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def mc_dropout(self, sample: Callable[[], torch.Tensor], samples: int, salt: int) -> list[torch.Tensor]:
        """`samples` stochastic passes of `sample` with the model's dropout on and batch norm in eval mode
        (MC dropout, Gal & Ghahramani 2016), the masks drawn from (the trainer's seed, `salt`): a salt from
        the images' ids makes the draws independent of batch order and of what ran before."""
        self.model.dropout.train()
        try:
            with seeded(self.config.seed, self.device, salt):
                return [sample() for _ in range(samples)]
        finally:
            self.model.dropout.eval()

    @staticmethod
    def salt_of(records: Sequence[Record]) -> int:
        """A salt from the records' ids (see `mc_dropout`)."""
        return zlib.crc32("\n".join(r.id for r in records).encode())

    def _trainable(self) -> list[torch.nn.Parameter]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return params + [p for head in self.aux_heads for p in head.parameters()]

    def _train_mode(self) -> None:
        self.model.train()
        for head in self.aux_heads:
            head.train()
        for module in self.runtime.frozen_modules():  # frozen stages keep their batch-norm statistics
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
        change them between epochs. Validation records without a target are left out of validation.
        """
        cfg = self.config
        rng = seed_everything(cfg.seed)
        data = self.runtime.prepare(train, val, class_names, sample_weights)
        optimizer = torch.optim.Adam(self._trainable(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        result = FitResult(best_epoch=cfg.epochs, best_score=None, monitor=data.monitor)
        stopping = EarlyStopping(cfg.patience)
        seen, t_train = 0, time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            row, n_seen = self._train_epoch(data, epoch, optimizer, scaler, rng)
            seen += n_seen
            result.synthetic_per_epoch.append(row["n_synthetic"])
            if data.has_val:
                self._validate_epoch(data, row, stopping, result, epoch)
            event = EpochEnd(self, epoch, data.train, data.sample_weights, row)
            for callback in self.callbacks:
                callback(event)
            data.sample_weights = checked_weights(event.sample_weights, len(data.train))
            result.history.append(row)
            self._log_epoch(row, result, epoch, time.perf_counter() - t_train)
            if data.has_val and stopping.should_stop():
                break
        return self._finish(result, data, stopping, seen, t_train)

    def _validate_epoch(
        self, data: FitData, row: dict, stopping: EarlyStopping, result: FitResult, epoch: int
    ) -> None:
        """Score the epoch on the validation records; keep its weights when it is the best so far. The score
        early stopping compares is higher-is-better: the negative loss when monitoring the loss."""
        metrics = self.runtime.validate(data)
        data.last_val_score = metrics.get(data.monitor)
        row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)})
        score = -metrics[LOSS_MONITOR] if data.monitor == LOSS_MONITOR else metrics[data.monitor]
        if stopping.update(score, epoch):
            result.best_score, result.best_epoch = stopping.best_score, epoch
            stopping.keep(self._state())

    def _finish(
        self, result: FitResult, data: FitData, stopping: EarlyStopping, seen: int, t_train: float
    ) -> FitResult:
        """Restore the best epoch's weights and fill in the timings."""
        cfg = self.config
        if stopping.best_state is not None:
            self._load_state(stopping.best_state)
        if not data.has_val:
            result.best_epoch = len(result.history)
        elif result.best_epoch == cfg.epochs and cfg.epochs > 1:
            note_last_epoch_best(cfg.epochs, cfg.progress)
        result.train_seconds = time.perf_counter() - t_train
        result.cache_seconds = data.cache_seconds
        result.images_per_second = seen / max(result.train_seconds, 1e-9)
        return result

    def _train_epoch(self, data: FitData, epoch: int, optimizer, scaler, rng) -> tuple[dict, int]:
        """One pass over the labelled images (and the epoch's synthetic samples, if the runtime makes any)."""
        cfg = self.config
        plan: EpochPlan = self.runtime.plan_epoch(data, rng)
        self._train_mode()
        order = plan.order
        total_loss, aux_totals, seen = 0.0, {h.name: 0.0 for h in self.aux_heads}, 0
        last = data.last_val_score
        note = "" if last is None else f" (last val {data.monitor} {last:.3f})"
        batches = range(0, len(order), cfg.batch_size)
        for start in progress(batches, f"epoch {epoch}/{cfg.epochs}{note}", enabled=cfg.progress):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # batch norm cannot train on a single sample
            step = self.runtime.train_step(data, plan, idx, rng)
            task_loss = self.loss_fn(step.logits.float(), step.target, data.class_weights)
            loss = task_loss.mean(step.weights)
            for head in self.aux_heads:
                aux = head.loss(head(step.aux_source), task_loss, step.weights)
                aux_totals[head.name] += aux.item() * len(idx)
                loss = loss + head.weight * aux
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total_loss += loss.item() * len(idx)
            seen += len(idx)
        n = max(len(order), 1)
        row = {"epoch": epoch, "train_loss": total_loss / n, "n_synthetic": plan.n_synthetic}
        row.update({f"train_{name}_loss": v / n for name, v in aux_totals.items()})
        return row, seen

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
    def predict(self, records: Sequence[Record], views: int | None = None) -> np.ndarray:
        """The task's outputs: class probabilities (N, C) (averaged over `views` fixed views, default the
        config's `tta_views`) or foreground probabilities (N, H, W)."""
        return self.runtime.predict(records, views)

    def embed(self, records: Sequence[Record]) -> np.ndarray:
        """Pooled embeddings (N, D): what representativeness and k-center compare."""
        return self.runtime.embed(records)

    def outputs(
        self, records: Sequence[Record], mc_samples: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outputs, embeddings and (classification) MC-dropout probabilities in one pass over `records`."""
        return self.runtime.outputs(records, mc_samples)

    @torch.inference_mode()
    def aux_predict(self, records: Sequence[Record]) -> dict[str, np.ndarray]:
        """Each auxiliary head's prediction (N,) for `records` (e.g. the predicted loss), on plain images."""
        self.model.eval()
        for head in self.aux_heads:
            head.eval()
        preds: dict[str, list[torch.Tensor]] = {h.name: [] for h in self.aux_heads}
        for source in self.runtime.aux_sources(records):
            for head in self.aux_heads:
                preds[head.name].append(head(source).float().cpu())
        return {name: torch.cat(p).numpy() if p else np.empty(0) for name, p in preds.items()}

    def targets(self, records: Sequence[Record]) -> Any:
        """What `evaluate` scores predictions against: labels (N,) or masks (N, H, W)."""
        return self.runtime.targets(records)

    def evaluate(self, records: Sequence[Record], classes: Sequence[str] = ()) -> dict:
        """The task's metrics of `records` (with targets) under `predict`: what the runner reports."""
        return self.task.metrics(self.runtime.targets(records), self.predict(records), classes)

    def correct(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) 1 where the prediction counts as right (what the paired stopping test counts)."""
        return self.runtime.correct(records)

    def gallery_images(self, records: Sequence[Record], folder: Path) -> list[str]:
        """What the report shows for selected images (the images, or mask overlays written into `folder`)."""
        return self.runtime.gallery_images(records, folder)

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
