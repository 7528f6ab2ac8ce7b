"""Training: the trainer (fit / predict / embed), its cached-trunk CPU fast path, devices and seeding."""

from lesionlab.config import TrainConfig
from lesionlab.training.trainer import FitResult, Trainer

__all__ = ["FitResult", "TrainConfig", "Trainer"]
