"""Checks on the raw command line, before typer converts it (an empty string would become `Path(".")`)."""

from __future__ import annotations

from lesionlab.errors import ConfigError


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
