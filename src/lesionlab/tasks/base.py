"""The `Task` contract: what a model's head outputs, which loss and metrics apply, how pixels become one image
score, and which model and training runtime serve it.

Everything that differs between classification and segmentation is a method or a field of a task, so the
trainer, the runner, the evidence providers, the report and the annotation project ask the task instead of
branching on its name. Torch-free: the config checks metric names against the task before any model is built;
`build_model` and `runtime` import torch only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lesionlab.errors import ConfigError

# A metric that fails on the validation split (one class: AUC undefined) falls back to this.
LOSS_MONITOR = "loss"


@dataclass(frozen=True)
class Task:
    """Base class of every task; a subclass fills in the metrics, the reduction, the model and the runtime.

    `output` names what the head emits (e.g. "class_probs" (N, C), "pixel_probs" (N, H, W)): evidence kinds
    declare the outputs they read, so a strategy that cannot apply to a task is refused before training.
    `target` names what a labelled image carries ("label" or "mask"): messages, the annotation project's
    stored kind and the data checks use it.
    """

    name: str
    output: str
    default_loss: str
    target: str = "label"
    # Targets are one class per image and the head outputs class probabilities: class names must be listed,
    # and class-label tools apply (noisy oracles, the label audit, ONNX scoring, test-time rules).
    class_labels: bool = True
    # Whether every metric is defined on any evaluation set (Dice on any masks; AUC needs two classes).
    metrics_always_defined: bool = False
    # What a simulated oracle needs of every pool image, and how to add an evaluation split the data lacks.
    pool_requirement: str = "labelled"
    missing_split_hint: str = ""
    # The annotation project's strategy once a model exists, when the project config's default does not suit.
    project_strategy: str | None = None
    # Which strategies suit the task, said when a strategy needs evidence the task's model cannot give.
    strategy_hint: str = ""

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        raise NotImplementedError

    def primary_metric(self, num_classes: int) -> str:
        raise NotImplementedError

    def metrics(self, targets: Any, outputs: Any, classes: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    def image_scores(self, outputs: Any, reduction: str = "mean_entropy") -> Any:
        """One number per image from the head's outputs (what selection compares across images)."""
        raise NotImplementedError

    def has_target(self, record: Any) -> bool:
        """Whether `record` carries what this task learns from and is scored on (a label; a mask)."""
        return record.label is not None

    def unsupported_options(self, config: Any) -> list[str]:
        """The experiment options set in `config` that this task cannot honour (refused before training)."""
        return []

    def check_files(self, report: Any) -> None:
        """Task-specific checks of decoded files (`data.validate.inspect_files`'s report); none by default."""

    def loss_predictor(self, model: Any) -> Any:
        """The learned loss predictor (Yoo & Kweon 2019) for this task's `model`."""
        from lesionlab.models.loss_predictor import LossPredictor

        return LossPredictor.for_model(model)

    def build_model(self, model: Any, num_classes: int, seed: int = 0) -> Any:
        """A fresh model from the `model:` config section, its new layers initialised from `seed`."""
        raise NotImplementedError

    def runtime(self) -> type:
        """The `TaskRuntime` subclass (training/runtime.py) that feeds this task's model to `Trainer`."""
        raise NotImplementedError

    def check_metric(self, name: str, num_classes: int, field: str, allow_loss: bool = False) -> str:
        """`name` itself, the primary metric for "auto", or a ConfigError listing the valid names."""
        if name == "auto":
            return self.primary_metric(num_classes)
        valid = (*self.metric_names(num_classes), *((LOSS_MONITOR,) if allow_loss else ()))
        if name == "acc":  # the name binary results used before there was one name for accuracy
            name = "accuracy"
        if name not in valid:
            kind = f"{self.name} with {num_classes} classes" if self.class_labels else self.name
            raise ConfigError(
                f"{field}: {name!r} is not a metric of {kind}; choose one of: {', '.join(valid)}"
            )
        return name
