"""The command line's shared pieces: checks on the raw arguments before typer converts them (an empty
string would become `Path(".")`), the `--set key=value` option, plain help, and usage errors in the same
one-line `error: ...` style as lesionlab's own."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from lesionlab.errors import ConfigError

# Every command that reads a config file takes these (`lesionlab.config_yaml.apply_overrides`).
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="change one config field, e.g. --set train.epochs=5 --set data.root=/data/isic2017 "
        "(repeatable; the value is read as YAML and checked like the file's)",
    ),
]


def refuse_blank_arguments(argv: list[str]) -> None:
    """An empty argument (`--out ''`, `--out=`, often an unset shell variable) would become the current
    folder or a default without a word: refuse it, naming the option."""
    for k, arg in enumerate(argv):
        option, eq, value = arg.partition("=")
        if eq and option.startswith("--") and not value.strip():
            where = option
        elif not arg.strip():
            where = argv[k - 1] if k and argv[k - 1].startswith("-") else f"argument {k + 1}"
        else:
            continue
        raise ConfigError(f"{where} is empty: give a value (is a shell variable unset?)")


def _plain(params: list[Any]) -> list[Any]:
    """A flag takes no value, so help shows no `<bool>` beside it; an argument is named in capitals
    (`CONFIG`, `RUN_DIR`), as the commands' own help text names it."""
    for param in params:
        if param.param_type_name == "option" and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar is None:
            param.metavar = (param.name or "").upper()
    return params


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    """`[OPTIONS] CONFIG` rather than typer's `[OPTIONS] {config}`: optional arguments in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            name = param.metavar + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
    return pieces


class Command(TyperCommand):
    """A command whose help has no type labels on flags and plain argument names in its usage line."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)


class Group(TyperGroup):
    """A group of commands whose own `--help` shows no `<bool>`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


class Typer(typer.Typer):
    """typer.Typer whose commands and groups are `Command` and `Group` (plain help everywhere)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def usage_error_line(exc: Any) -> str:
    """A usage error (unknown option, missing argument...) as one line naming the command's help."""
    ctx = getattr(exc, "ctx", None)
    see = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"{exc.format_message().rstrip('.')}{see}"
