"""Options a component owns (a loss's, a strategy's, an oracle's), read from a config and checked.

Torch-free like `config.py`: a config names a component and gives its options as a plain mapping
(`train.loss_options`, `experiment.strategy_params.<name>`); the component's own pydantic model (a subclass
of `config.Options`) checks them where the component is built, before any training. Also here: the old flat
`train` fields of the noisy-label losses, still read and mapped onto `loss_options` with a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lesionlab.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel


def validate_options(model: type[BaseModel], params: Any, what: str) -> Any:
    """`params` as `model`, or one ConfigError naming `what` (e.g. "train.loss_options of loss 'ousm'"),
    the offending option and the valid ones with their defaults."""
    if not isinstance(params, dict):
        raise ConfigError(f"{what}: options are a mapping of name: value, got {params!r}")
    fields = model.model_fields
    unknown = sorted(set(params) - set(fields))
    if unknown:
        valid = ", ".join(f"{k} (default {f.default!r})" for k, f in fields.items())
        valid = f"valid options: {valid}" if valid else "it takes no options"
        raise ConfigError(f"{what}: unknown option(s) {', '.join(map(str, unknown))}; {valid}")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ConfigError(f"{what}: {'; '.join(_explain(e) for e in exc.errors())}") from None


def _explain(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "options"
    if "not true/false" in error["msg"]:  # `config.StrictModel`'s refusal of true/false for a number
        return f"{where} must be a number, not true/false"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


# Before each loss owned its options (issue 32), the noisy-label losses' settings were fields of `train`:
# old name -> (option name, the losses that read it). Still read, mapped onto `loss_options`, with a warning.
LEGACY_LOSS_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ousm_fraction": ("fraction", ("ousm", "ousm_loop")),
    "ousm_alpha": ("alpha", ("ousm_loop",)),
    "ousm_beta": ("beta", ("ousm_loop",)),
    "reweight_after": ("reweight_after", ("ousm_loop",)),
    "reweight_every": ("reweight_every", ("ousm_loop",)),
    "loop_neighbors": ("neighbors", ("ousm_loop",)),
    "loop_extent": ("extent", ("ousm_loop",)),
    "forward_matrix": ("matrix", ("forward",)),
    "forward_warmup": ("warmup", ("forward",)),
    "forward_quantile": ("quantile", ("forward",)),
}


def move_legacy_loss_fields(train: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`train` with the old flat loss fields moved into `loss_options` of the loss that reads them (dropped,
    as they always were ignored, for any other loss), and one message per field saying how to write it."""
    old = {k: train[k] for k in LEGACY_LOSS_FIELDS if k in train}
    if not old:
        return train, []
    loss = train.get("loss", "auto")
    out = {k: v for k, v in train.items() if k not in old}
    options = dict(out.get("loss_options") or {})
    notes = []
    for key, value in old.items():
        option, readers = LEGACY_LOSS_FIELDS[key]
        if loss in readers:
            options[option] = value
            notes.append(f"train.{key} is deprecated: write train.loss_options: {{{option}: {value}}}")
        else:
            notes.append(f"train.{key} is deprecated and ignored: loss {loss!r} does not read it")
    out["loss_options"] = options
    return out, notes


def legacy_field_warnings(data: Any) -> list[str]:
    """The deprecation messages of a config's old flat loss fields (`load_config` prints them once)."""
    train = data.get("train") if isinstance(data, dict) else None
    return move_legacy_loss_fields(train)[1] if isinstance(train, dict) else []
