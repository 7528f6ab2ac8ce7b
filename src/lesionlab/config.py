"""Configs are data: a YAML file (or dict) validated into typed sections before any work starts.

Unknown keys are errors (a typo must not silently fall back to a default) and every message names
the field, the value and what was expected. So are a key written twice in one YAML mapping (YAML's
last-one-wins would drop the first silently), true/false where a number is expected (pydantic's lax mode
reads true as 1), a blank path (it would mean the current folder) and a file that is not UTF-8.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lesionlab.config_options import legacy_field_warnings, move_legacy_loss_fields
from lesionlab.config_yaml import (  # read_yaml: also imported from here by the commands and the project
    apply_overrides,
    read_config_mapping,
    read_yaml,
)
from lesionlab.errors import ConfigError

# Finite numbers only: a NaN or infinite learning rate, budget or ratio is a typo, never a setting.
Finite = Annotated[float, Field(allow_inf_nan=False)]
# The names `lesionlab.data.preprocess.PREPROCESSING` implements (a test keeps the lists equal, and those
# of `resize` with RESIZE_MODES; the config must not import the image code, which pulls in the imaging stack).
Preprocessing = Literal["none", "gray_world", "grayscale_minmax"]


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("a path cannot be empty (that means the current folder): write one, e.g. runs/x")
    return value


# A path that is never '' or spaces; every Path field of a config uses it.
FolderPath = Annotated[Path, BeforeValidator(_not_blank)]


def _numeric(annotation: Any) -> bool:
    """Whether a field's type takes numbers but not booleans (int, float, their lists, Optional, dicts)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _numeric(args[0])
    if origin in (Union, types.UnionType):
        return bool not in args and any(_numeric(a) for a in args)
    if origin in (list, tuple, set):
        return bool(args) and _numeric(args[0])
    if origin is dict:
        return len(args) == 2 and _numeric(args[1])
    return annotation in (int, float)


def _holds_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple | set):
        return any(isinstance(v, bool) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, bool) for v in value.values())
    return False


def booleans_for_numbers(func: Any, params: dict[str, Any]) -> list[str]:
    """The names in `params` given true/false where `func`'s signature expects a number: for parameters
    that pass through a config untyped (`experiment.strategy_params`) to a function that has types."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an annotation that does not resolve: nothing to check against
        return []
    return [k for k, v in params.items() if k in hints and _holds_bool(v) and _numeric(hints[k])]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """true/false where a number is expected is refused (pydantic would read true as 1)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _holds_bool(value) and _numeric(field.annotation):
            raise ValueError("a number is expected here, not true/false")
        return value

    def updated(self, **changes: Any) -> Any:
        """A copy with `changes` applied and validated (`model_copy(update=...)` skips validation)."""
        return type(self).model_validate({**self.model_dump(), **changes})


class Options(StrictModel):
    """Base of a component's own options model (a loss's, a strategy's, an oracle's): unknown names and
    true/false for numbers refused, as in every config section. Read with
    `config_options.validate_options`."""


def _registered_task(name: str) -> str:
    """A task name from YAML must be registered (built-in, `register_task`, or a `lesionlab.tasks` plugin)."""
    from lesionlab.tasks import available_tasks

    if name not in available_tasks():
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(available_tasks())}")
    return name


TaskName = Annotated[str, AfterValidator(_registered_task)]


class TrainConfig(StrictModel):
    """Hyper-parameters of one fit; defaults are Shi et al.'s where the paper gives them.

    Bounds and choices live here, so a bad value stops `load_config` before any work. `monitor` and
    `loss` are names checked against the task and the loss registry when a run starts (both need the
    task, and the loss registry needs torch, which loading a config must not import).
    """

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: Finite = Field(1e-4, gt=0)
    weight_decay: Finite = Field(0.0, ge=0)
    loss: str = "auto"  # a name in lesionlab.training.losses; "auto" = the task's default (weighted_ce)
    # The named loss's own options (its options model, e.g. ousm_loop's fraction, alpha, beta, ...), checked
    # against it before any training: `loss_options: {fraction: 0.2}`. Empty: the loss's defaults.
    loss_options: dict[str, Any] = Field(default_factory=dict)
    # Weighted cross-entropy (Shi et al. 2019): "balanced" = n / (C n_c); "sqrt" = its square root, a milder
    # correction for many skewed classes (HAM10000's 72:1); "none" = plain cross-entropy.
    class_weights: Literal["balanced", "sqrt", "none"] = "balanced"
    patience: int = Field(5, ge=0)  # epochs without a better validation score; 0 never stops early
    monitor: str = "auto"  # the task's primary metric unless set; "loss" = validation loss
    freeze_stages: int = Field(5, ge=0)  # stages frozen and cached (CPU fast path); 0 = full fine-tuning
    views: int = Field(4, ge=1)  # fixed augmented views per image in the fast path (view 0 is plain)
    # predict() averages class probabilities over this many fixed views of each image, the same recipe
    # and the same views the fast path trains on (test-time augmentation); 1 = the plain image only.
    tta_views: int = Field(1, ge=1)
    resolution: int = Field(224, ge=32)
    preprocessing: Preprocessing = "gray_world"
    # How a non-square image becomes square: stretched ("squash", as before), cropped to its centre square
    # ("center_crop") or padded with black ("pad"). Part of every cache key.
    resize: Literal["squash", "center_crop", "pad"] = "squash"
    augmentation: Literal["paper000", "light", "none"] = "paper000"
    # Fresh samples each epoch: "mosaic" (Shi et al.'s aggregative supervision) or "mixup" (its baseline).
    synthetic: Literal["none", "mosaic", "mixup"] = "none"
    synthetic_ratio: Finite = Field(0.25, ge=0)  # synthetic samples per labelled image per epoch
    # Four distinct same-class images, or "replicate" one (Shi et al.'s ablation).
    mosaic_mode: Literal["different", "replicate"] = "different"
    mixup_alpha: Finite = Field(0.2, gt=0)  # lam ~ Beta(alpha, alpha); Shi et al. 2019 does not give it
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    num_threads: int | None = Field(None, ge=1)
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = True
    seed: int = Field(0, ge=0)
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _legacy_loss_fields(cls, data: Any) -> Any:
        """The flat fields of the noisy-label losses (before each loss owned its options) still read."""
        return move_legacy_loss_fields(data)[0] if isinstance(data, dict) else data

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        kind = value.split(":")[0]
        if kind not in ("auto", "cpu", "cuda", "mps") or (":" in value and not value.split(":")[1].isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
        return value


class DataConfig(StrictModel):
    source: str = "isic2017"
    root: FolderPath | None = None  # None: the embedded demo subset of ISIC 2017
    task: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. csv=, masks= for the folder source


class ModelConfig(StrictModel):
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    dropout: Finite = Field(0.2, ge=0, lt=1)
    # Segmentation's paper-shaped U-Net: channels width * (1, 2, 4, 8, 8); the paper's 64 gives 512 at 1/16.
    width: int = Field(64, ge=1)


class TrainRunConfig(StrictModel):
    """`lesionlab train`: one supervised run on a data source's train split, epoch picked on val."""

    @model_validator(mode="before")
    @classmethod
    def _not_an_experiment(cls, data: Any) -> Any:
        if isinstance(data, dict) and "experiment" in data:
            raise ValueError(
                "this is an experiment config (it has an `experiment` section): use `lesionlab run`"
            )
        return data

    # The task object (lesionlab.tasks) the trainer, runner and report ask. Segmentation trains a U-Net
    # (model.backbone unet, unet_lite0 or unet_resnet18) on each image's mask (Zhao et al. 2022).
    task: TaskName = "classification"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: FolderPath = Path("runs/train")
    cache_dir: FolderPath | None = None  # None: $LESIONLAB_CACHE or ~/.cache/lesionlab
    check_files: bool = True


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        # Dataclass sections (e.g. `train`, a TrainConfig) report a typo as an unexpected keyword argument.
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            lines.append(f"  {where}: unknown field (check the spelling)")
        else:
            lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_config(model: type[BaseModel], source: Path | dict[str, Any], overrides: Sequence[str] = ()) -> Any:
    """Validate a YAML file or a dict into `model`, turning pydantic errors into one readable ConfigError.

    `overrides` (`--set key.sub=value`) are written into the mapping first, so they are validated as the
    file is; a file's `${NAME}` in data.root is expanded (`config_yaml.read_config_mapping`).
    Values that are valid but probably not meant (`budget: 1.0`) are warned about on stderr, once.
    """
    if isinstance(source, Path):
        data = read_config_mapping(source, overrides)
    else:
        data = apply_overrides(source, overrides)
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        name = str(source) if isinstance(source, Path) else "config"
        name += f" with --set {' '.join(overrides)}" if overrides else ""
        raise ConfigError(format_validation_error(exc, name)) from exc
    for warning in [*count_or_fraction_warnings(data), *legacy_field_warnings(data)]:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    return config


# Settings read as a fraction of the pool below 1 and as a count from 1 up (`runner.checks.amount`).
_COUNT_OR_FRACTION = (("experiment", "budget"), ("experiment", "initial", "size"))


def count_or_fraction_warnings(data: Any) -> list[str]:
    """A float equal to 1 in a count-or-fraction setting: 1.0 reads as one image, which 1.0 rarely means."""
    out = []
    for keys in _COUNT_OR_FRACTION:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if _float_one(value):
            name = ".".join(keys)
            out.append(
                f"{name}: 1.0 is read as a count, one image (numbers below 1 are shares of the pool, from 1 "
                f"up counts of images): for 100 % of the pool write its size as a whole number; for one "
                f"image write {name.rsplit('.', 1)[-1]}: 1"
            )
    return out


def _float_one(value: Any) -> bool:
    """1.0 written as a float: `1.0`, or a string the config turns into one (`"1.0"`, and `1e0`, which YAML
    reads as text); a plain `1` or `"1"` is a count and meant."""
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if text.lstrip("+").isdigit():
            return False
        try:
            value = float(text)
        except ValueError:
            return False
        return value == 1.0
    return isinstance(value, float) and value == 1.0


def load_experiment_config(path: Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """`lesionlab run`'s config: refused when it has no `experiment` section (a training config would
    otherwise start a default experiment, 3 strategies x 3 seeds, on its data)."""
    if "experiment" not in apply_overrides(read_yaml(path), overrides):
        raise ConfigError(
            f"{path} has no `experiment` section: it looks like a training config (use `lesionlab train`), "
            "or add an experiment section (see docs/configuration.md)"
        )
    return load_config(ExperimentConfig, path, overrides)


class InitialConfig(StrictModel):
    """The labelled set before round 1: random k % (Shi et al. 2019: 10 %), empty, or a cold start."""

    kind: Literal["random", "empty", "strategy"] = "random"
    size: Finite = Field(0.1, gt=0)  # a fraction of the pool if < 1, else a count
    strategy: str | None = None  # for kind "strategy": a strategy that needs no model (e.g. pca_lsh)


class AuditSection(StrictModel):
    """`experiment.audit`: audit the bought labels every round and re-label the most suspect (issue 16)."""

    every_round: bool = False
    relabel_fraction: Finite = Field(0.1, ge=0, lt=1)  # share of each round's budget spent on re-labels
    compare: bool = False  # also run every strategy without the audit (`<name>` beside `<name>+audit`)
    views: int = Field(4, ge=1)  # fixed augmented views per image the audit's features average over
    folds: int = Field(5, ge=2)  # cross-validation folds of the audit's out-of-sample probabilities


class ExperimentSection(StrictModel):
    strategies: list[str] = Field(default_factory=lambda: ["random", "least_confidence", "entropy"])
    strategy_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    initial: InitialConfig = Field(default_factory=InitialConfig)
    budget: Finite = Field(0.1, gt=0)  # per round: a fraction of the pool if < 1, else a count
    rounds: int = Field(4, ge=0)  # acquisition rounds after the initial set
    stopping: Literal["fixed", "paper000"] = "fixed"
    stopping_alpha: Finite = Field(0.05, gt=0, lt=1)
    learning: Literal["retrain", "acft_q", "acft_lq", "acft_hq"] = "retrain"
    # Zhou et al. 2021, Table 3 note: continual fine-tuning at this share of train.lr (runner/learning.py).
    continual_lr_scale: Finite = Field(0.1, gt=0, le=1)
    # Epochs of every round that continues an already fine-tuned model (Zhao et al. 2022: 10 initial epochs,
    # then 2 per round: learning acft_lq); None = train.epochs every round. Refused with learning retrain.
    round_epochs: int | None = Field(None, ge=1)
    oracle: Literal["simulated", "noisy", "noisy_ranked"] = "simulated"  # see lesionlab.runner.oracles
    oracle_noise: Finite = Field(0.0, ge=0, lt=1)  # for the noisy oracle: chance a label is flipped
    # noisy_ranked: CSV `image_id,difficulty[,wrong_label]`; the hardest oracle_noise share of each class errs
    oracle_difficulty: FolderPath | None = None
    audit: AuditSection = Field(default_factory=AuditSection)
    mc_samples: int = Field(10, ge=1)
    ensemble_size: int = Field(3, ge=1)
    # Committee members besides the round's model: trained afresh with other seeds each round (Beluch et
    # al.), or "continued": each fine-tuned on from its previous round like the model itself (Zhao et al.'s
    # protocol: the model's lr and `round_epochs`, if set; needs a continual `learning`).
    ensemble_members: Literal["fresh", "continued"] = "fresh"
    # Who scores the unlabelled pool each round: the trainer, or the round's model exported to ONNX
    # Runtime from the images (no activation cache; docs/scaling.md).
    pool_scoring: Literal["trainer", "onnxruntime"] = "trainer"
    metric: str = "auto"  # the task's primary metric unless set; checked against the task's names
    evaluate_on: Literal["test", "val"] = "test"
    gallery_size: int = Field(8, ge=0)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            raise ValueError(f"seeds must be distinct; repeated: {repeated}")
        return seeds

    @field_validator("strategies")
    @classmethod
    def _some_strategies(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("name at least one strategy")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"strategies must be distinct; repeated: {repeated}")
        return names

    full_data: dict[str, float] | None = None  # reference line for curves (e.g. from benchmarks/results)


class ExperimentConfig(StrictModel):
    """`lesionlab run`: a simulated-oracle active-learning experiment (labels hidden until bought)."""

    name: str = "experiment"
    # The task object (lesionlab.tasks) the trainer, runner and report ask. Segmentation trains a U-Net
    # (model.backbone unet, unet_lite0 or unet_resnet18) on each image's mask (Zhao et al. 2022).
    task: TaskName = "classification"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    experiment: ExperimentSection = Field(default_factory=ExperimentSection)
    output: FolderPath = Path("runs/experiment")
    cache_dir: FolderPath | None = None
    check_files: bool = True
