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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import ConfigDict

from lesionlab.data.augment import augmented_views, light_augmentation, paper000_augmentation
from lesionlab.data.cache import ImageCache
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.evaluation.metrics import compute_metrics
from lesionlab.models.classifier import LesionClassifier
from lesionlab.progress import progress
from lesionlab.training.activations import ActivationCache, activation_key
from lesionlab.training.device import seed_everything, select_device, set_threads
from lesionlab.training.synthetic import MOSAIC_MODES, SYNTHETIC_KINDS, epoch_samples, soft_cross_entropy

AUGMENTATIONS: dict[str, Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None] = {
    "paper000": paper000_augmentation,
    "light": light_augmentation,
    "none": None,
}
CLASS_WEIGHTS = ("balanced", "sqrt", "none")
MONITORS = ("auto", "loss", "auc", "macro_auc", "accuracy", "balanced_accuracy", "acc")


@dataclass
class TrainConfig:
    """Hyper-parameters of one fit; defaults are paper 000's where the paper gives them."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # a typo in a config is an error, not a silent default

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    # Weighted cross-entropy (paper 000): "balanced" = n / (C n_c); "sqrt" = its square root, a milder
    # correction for many skewed classes (HAM10000's 72:1); "none" = plain cross-entropy.
    class_weights: str = "balanced"
    patience: int = 5  # epochs without a better validation score before stopping; 0 never stops early
    monitor: str = "auto"  # auc (binary) / macro_auc (multi-class) unless set
    freeze_stages: int = 5  # stages frozen and cached (CPU fast path); 0 = full fine-tuning
    views: int = 4  # fixed augmented views per image in the fast path (view 0 is the plain image)
    # predict() averages class probabilities over this many fixed views of each image, the same recipe
    # and the same views the fast path trains on (test-time augmentation); 1 = the plain image only.
    tta_views: int = 1
    resolution: int = 224
    preprocessing: str = "gray_world"
    augmentation: str = "paper000"
    synthetic: str = "none"  # fresh samples each epoch: "mosaic" (paper 000's AS) or "mixup" (its baseline)
    synthetic_ratio: float = 0.25  # synthetic samples per ordinary labelled image per epoch
    mosaic_mode: str = "different"  # four distinct same-class images, or "replicate" one (paper 000 ablation)
    mixup_alpha: float = 0.2  # lam ~ Beta(alpha, alpha); paper 000 does not give it
    device: str = "auto"
    num_threads: int | None = None
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = True
    seed: int = 0
    progress: bool = True

    def validate(self, model: LesionClassifier | None = None) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.views >= 1, f"views must be >= 1, got {self.views}"),
            (self.tta_views >= 1, f"tta_views must be >= 1, got {self.tta_views}"),
            (self.resolution >= 32, f"resolution must be >= 32, got {self.resolution}"),
            (self.class_weights in CLASS_WEIGHTS, f"class_weights must be one of {', '.join(CLASS_WEIGHTS)}"),
            (self.monitor in MONITORS, f"monitor must be one of {', '.join(MONITORS)}"),
            (self.augmentation in AUGMENTATIONS, f"augmentation must be one of {', '.join(AUGMENTATIONS)}"),
            (
                self.synthetic in SYNTHETIC_KINDS,
                f"synthetic must be one of {', '.join(SYNTHETIC_KINDS)}, got {self.synthetic!r}",
            ),
            (
                np.isfinite(self.synthetic_ratio) and self.synthetic_ratio >= 0,
                f"synthetic_ratio must be a finite number >= 0, got {self.synthetic_ratio}",
            ),
            (
                self.mosaic_mode in MOSAIC_MODES,
                f"mosaic_mode must be one of {', '.join(MOSAIC_MODES)}, got {self.mosaic_mode!r}",
            ),
            (
                np.isfinite(self.mixup_alpha) and self.mixup_alpha > 0,
                f"mixup_alpha must be a finite number > 0, got {self.mixup_alpha}",
            ),
        ]
        if model is not None:
            ok = 0 <= self.freeze_stages < model.num_stages
            checks.append(
                (ok, f"freeze_stages must be in [0, {model.num_stages - 1}] for {model.backbone_name}")
            )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def class_weight_vector(counts: np.ndarray, scheme: str) -> torch.Tensor | None:
    """Per-class loss weights from label counts; absent classes count as one image (no division by 0)."""
    if scheme == "none":
        return None
    balanced = counts.sum() / (len(counts) * np.maximum(counts, 1))
    return torch.tensor(np.sqrt(balanced) if scheme == "sqrt" else balanced, dtype=torch.float32)


@dataclass
class FitResult:
    best_epoch: int
    best_score: float | None
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    cache_seconds: float = 0.0
    images_per_second: float = 0.0
    synthetic_per_epoch: list[int] = field(default_factory=list)  # also each history row's "n_synthetic"


class Trainer:
    """Trains and applies one model; images and trunk activations are cached across calls."""

    def __init__(self, model: LesionClassifier, config: TrainConfig, cache_dir: Path | None = None) -> None:
        config.validate(model)
        self.config = config
        self.model = model
        self.device = select_device(config.device)
        set_threads(config.num_threads)
        self.model.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.images = ImageCache(cache_dir, config.resolution, config.preprocessing)
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
        activation cache seeds them.
        """
        paths = [r.image_path for r in records]
        if self.activations is not None:
            return self.activations.get(paths, n_views)
        images = self.images.get_many(paths)
        if n_views == 1:
            return torch.from_numpy(images)[None]
        keys = [activation_key(Path(p)) for p in paths]
        return torch.from_numpy(augmented_views(images, n_views, 0, keys=keys))

    @torch.inference_mode()
    def _trunk_activations(self, images: torch.Tensor) -> torch.Tensor:
        """Float16 frozen-trunk activations (N, C, h, w) of (N, H, W, 3) images, as the cache holds them."""
        self.model.eval()
        out = [torch.empty(0, dtype=torch.float16)]
        for start in range(0, len(images), 64):
            x = images[start : start + 64].to(self.device).permute(0, 3, 1, 2).float().div_(255)
            x = x.contiguous(memory_format=torch.channels_last)
            out.append(self.model.run_trunk(x, self.config.freeze_stages).half().cpu())
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

    def _forward(self, batch: torch.Tensor, train: bool, augment=None):
        batch = batch.to(self.device, non_blocking=True)
        if self.fast:
            x = batch.float()
            if self.config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", enabled=self.use_amp):
                return self.model.run_tail(x, self.config.freeze_stages)
        x = batch.permute(0, 3, 1, 2)
        if train and augment is not None:
            x = torch.stack([augment(img) for img in x])
        x = x.float().div_(255)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", enabled=self.use_amp):
            return self.model.forward_all(x)

    def _trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _train_mode(self) -> None:
        self.model.train()
        if self.fast:  # frozen stages keep their ImageNet batch-norm statistics
            for module in self.model.trunk_modules(self.config.freeze_stages):
                module.eval()

    # ---------------------------------------------------------------- fit
    def fit(
        self,
        train: Sequence[Record],
        val: Sequence[Record] = (),
        class_names: Sequence[str] | None = None,
    ) -> FitResult:
        """Train on `train`; when `val` is given keep the epoch with the best validation score."""
        cfg = self.config
        num_classes = self.model.num_classes
        labels = np.array([r.label for r in train])
        if len(train) == 0:
            raise ConfigError("nothing to train on: the training set is empty")
        if any(label is None for label in labels) or labels.min() < 0 or labels.max() >= num_classes:
            raise ConfigError(f"training labels must be integers in [0, {num_classes - 1}]")
        class_names = list(class_names or [str(i) for i in range(num_classes)])
        rng = seed_everything(cfg.seed)

        t0 = time.perf_counter()
        x_train = self._inputs(train, cfg.views if self.fast else 1)
        x_val = self._inputs(val) if len(val) else None
        sources = None  # plain decoded training images for synthetic samples, decoded once per fit
        if cfg.synthetic != "none":
            sources = self.images.get_many([r.image_path for r in train]) if self.fast else x_train[0].numpy()
        cache_seconds = time.perf_counter() - t0

        counts = np.bincount(labels.astype(int), minlength=num_classes).astype(float)
        weights = class_weight_vector(counts, cfg.class_weights)
        if weights is not None:
            weights = weights.to(self.device)
        # Soft targets throughout: one-hot for ordinary images and mosaics, mixtures for mix-ups.
        y_train = torch.eye(num_classes)[torch.from_numpy(labels.astype(np.int64))]
        optimizer = torch.optim.Adam(self._trainable(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        augment = (
            None
            if self.fast or AUGMENTATIONS[cfg.augmentation] is None
            else AUGMENTATIONS[cfg.augmentation]()
        )
        monitor = self._monitor(num_classes)

        best = FitResult(best_epoch=cfg.epochs, best_score=None)
        best_state = None
        stale = 0
        seen = 0
        t_train = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            x_syn, y_syn = self._synthetic(sources, labels, rng)
            self._train_mode()
            n_real = len(train)
            order = rng.permutation(n_real + len(y_syn))  # indices >= n_real are synthetic samples
            views = rng.integers(0, x_train.shape[0], size=n_real)
            total_loss = 0.0
            batches = range(0, len(order), cfg.batch_size)
            for start in progress(batches, f"epoch {epoch}/{cfg.epochs}", enabled=cfg.progress):
                idx = order[start : start + cfg.batch_size]
                if len(idx) < 2 and len(order) > 1:
                    continue  # batch norm cannot train on a single sample
                real, syn = idx[idx < n_real], idx[idx >= n_real] - n_real
                batch = x_train[torch.from_numpy(views[real]), torch.from_numpy(real)]
                target = y_train[real]
                if len(syn):
                    batch = torch.cat([batch.to(x_syn.dtype), x_syn[torch.from_numpy(syn)]])
                    target = torch.cat([target, y_syn[torch.from_numpy(syn)]])
                out = self._forward(batch, train=True, augment=augment)
                loss = soft_cross_entropy(out.logits.float(), target.to(self.device), weights)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total_loss += loss.item() * len(idx)
                seen += len(idx)
            row = {"epoch": epoch, "train_loss": total_loss / len(order), "n_synthetic": len(y_syn)}
            best.synthetic_per_epoch.append(len(y_syn))
            if x_val is not None:
                probs = self._probs_from(x_val[0])
                val_labels = np.array([r.label for r in val])
                metrics = compute_metrics(val_labels, probs, class_names)
                metrics["loss"] = float(
                    F.nll_loss(
                        torch.log(torch.from_numpy(probs).clamp_min(1e-12)),
                        torch.from_numpy(val_labels.astype(np.int64)),
                    )
                )
                score = -metrics["loss"] if monitor == "loss" else metrics[monitor]
                row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)})
                if best.best_score is None or (np.isfinite(score) and score > best.best_score):
                    best.best_score, best.best_epoch, stale = float(score), epoch, 0
                    best_state = copy.deepcopy(self.model.state_dict())
                else:
                    stale += 1
            best.history.append(row)
            if x_val is not None and cfg.patience and stale >= cfg.patience:
                break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        if x_val is None:
            best.best_epoch = len(best.history)
        best.train_seconds = time.perf_counter() - t_train
        best.cache_seconds = cache_seconds
        best.images_per_second = seen / max(best.train_seconds, 1e-9)
        return best

    def _monitor(self, num_classes: int) -> str:
        if self.config.monitor != "auto":
            return {"acc": "acc"}.get(self.config.monitor, self.config.monitor)
        return "auc" if num_classes == 2 else "macro_auc"

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def _outputs_from(
        self, x: torch.Tensor, mc_samples: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities, embeddings and (if asked) MC-dropout probabilities (T, N, C) for prepared inputs."""
        self.model.eval()
        probs, embeds = [], []
        for start in range(0, x.shape[0], 128):
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
        """Probabilities, embeddings and MC-dropout probabilities in one pass over `records`."""
        return self._outputs_from(self._inputs(records)[0], mc_samples)

    def describe(self) -> dict:
        return {**asdict(self.config), "device": str(self.device), "fast_path": self.fast}
