"""A strategy's options model, derived from its `__init__` so a strategy states its options once.

`experiment.strategy_params.<name>` passes through the config as a plain mapping; the strategy's model
checks it before any training. The model is built from the `__init__` parameters' type hints and defaults
(following `**options` to the parent class): a number written as text, a fraction for a whole number or
true/false for a number is refused rather than silently converted. A
strategy that wants bounds or cross-field checks sets its own `Options` (a `config.Options` subclass).
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

from pydantic import ConfigDict, ValidationInfo, create_model, field_validator

from lesionlab.config import Options
from lesionlab.config_options import validate_options


def _types(annotation: Any) -> set[Any]:
    """The plain types an annotation admits (`int | None` -> {int, NoneType})."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _types(args[0])
    return set().union(*(_types(a) for a in args)) if args else {annotation}


class SignatureOptions(Options):
    """Options read from a signature: no text for a number, no 2.5 for a whole number (10.0 is 10), no
    true/false for a number (`config.Options`)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_text_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        types = _types(field.annotation) if field is not None else set()
        if isinstance(value, str) and types & {int, float} and not types & {str, Any}:
            raise ValueError("a number is expected here, not text")
        return value


def _init_parameters(cls: type) -> dict[str, tuple[Any, Any]]:
    """{name: (type, default)} of `cls.__init__`, then its parents' while an `__init__` takes `**options`."""
    fields: dict[str, tuple[Any, Any]] = {}
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        if klass is object or getattr(init, "__objclass__", None) is object:
            break
        hints = typing.get_type_hints(init)
        more = False
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                more = True
            elif p.kind is not p.VAR_POSITIONAL and p.name not in fields:
                default = ... if p.default is p.empty else p.default
                fields[p.name] = (hints.get(p.name, Any), default)
        if not more:
            break
    return fields


@functools.cache
def options_model(cls: type) -> type[Options]:
    """The options model of strategy class `cls`, from its `__init__` (cached per class)."""
    return create_model(f"{cls.__name__}Options", __base__=SignatureOptions, **_init_parameters(cls))


def options_of(cls: Any, params: dict[str, Any], what: str) -> dict[str, Any]:
    """`params` checked against `cls.options_model()`, with every default (a ConfigError naming `what`)."""
    return validate_options(cls.options_model(), dict(params), what).model_dump()
