"""A strategy's options model, derived from its `__init__` so a strategy states its options once.

`experiment.strategy_params.<name>` passes through the config as a plain mapping; the strategy's model
checks it before any training. The model is built from the `__init__` parameters' type hints and defaults
(following `**options` to the parent class), in pydantic's strict mode: a number written as text, a
fraction for a whole number or true/false for a number is refused rather than silently converted. A
strategy that wants bounds or cross-field checks sets its own `Options` (a `config.Options` subclass).
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

from pydantic import ConfigDict, create_model

from lesionlab.config import Options
from lesionlab.config_options import validate_options


class SignatureOptions(Options):
    """Options read from a signature: strict types (no text for numbers, no 2.5 for an int)."""

    model_config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)


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
