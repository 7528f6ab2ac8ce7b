"""Training: the trainer (fit / predict / embed), its cached-trunk CPU fast path, devices and seeding."""

from lesionlab.training.trainer import FitResult, TrainConfig, Trainer

__all__ = ["FitResult", "TrainConfig", "Trainer"]
