"""Reading a config file's YAML strictly: UTF-8 only, and no key written twice in one mapping (YAML's
last-one-wins would drop the first silently). Every failure is one ConfigError naming the file.

Then what the command line adds before validation: `--set key.sub=value` overrides and `${NAME}` in
`data.root`, so both are checked exactly as the file's own values are."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lesionlab.errors import ConfigError


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark) -> None:
        if first.line == second.line:  # a flow mapping, `train: {epochs: 2, epochs: 3}`
            where = f"line {first.line + 1}, columns {first.column + 1} and {second.column + 1}"
        else:
            where = f"lines {first.line + 1} and {second.line + 1}"
        super().__init__(f"key {key!r} is written twice in one mapping ({where})")


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (YAML keeps the last silently).

    Keys brought in by a merge (`<<: *defaults`) may be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            mark = key_node.start_mark
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], mark)
                seen[key] = mark
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a UTF-8 YAML file; a missing file, bad encoding, bad YAML or a repeated key is a
    ConfigError naming the file (and the lines)."""
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder: give the YAML file in it")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # the machine's locale must not change what is read
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if "\x00" in text:  # UTF-16 without a byte order mark decodes as "UTF-8" with a NUL in every other byte
        raise ConfigError(
            f"config file {path} is not UTF-8 text (it holds NUL bytes, as UTF-16 does): save it as UTF-8"
        )
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader) or {}
    except _DuplicateKey as exc:
        raise ConfigError(f"config file {path}: {exc}; keep one") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of fields, not {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- `--set key=value` overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """`key.sub=value` as (path of keys, value read as YAML), so `5` is a number, `true` a boolean and
    `[0, 1]` a list, exactly as they would be read from the file."""
    key, eq, raw = text.partition("=")
    keys = key.strip().split(".")
    if not eq or not all(k.strip() for k in keys):
        raise ConfigError(f"--set {text!r}: write key=value, e.g. --set train.epochs=5 or data.root=/data")
    if not raw.strip():
        raise ConfigError(f"--set {text!r} has no value: write one after '=' (null for none)")
    try:
        value = yaml.load(raw, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({reason}); quote it") from None
    return [k.strip() for k in keys], value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of a config mapping with each `key.sub=value` written in, before validation: an override is
    checked exactly as the same value in the file would be (an unknown key is the same error)."""
    out = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        section = out
        for depth, key in enumerate(keys[:-1]):
            inner = section.setdefault(key, {})
            if inner is None:  # `train:` left empty in the file
                inner = section[key] = {}
            if not isinstance(inner, dict):
                where = ".".join(keys[: depth + 1])
                raise ConfigError(f"--set {text!r}: {where} is {inner!r}, not a section with fields")
            section = inner
        section[keys[-1]] = value
    return out


# --------------------------------------------------------------------------- ${VARIABLE} in data.root

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Where the data sets come from and the layouts each source reads (named in every error below).
DATA_SECTION = "Where lesionlab looks for the data"
DATA_DOC = f'docs/data.md, section "{DATA_SECTION}"'


def expand_data_root(data: dict[str, Any], source: str) -> dict[str, Any]:
    """`data.root` with each `${NAME}` replaced by that environment variable (the examples write
    `${LESIONLAB_DATA}/isic2017`, so one variable points them all at a machine's copy).

    An unset variable, or a folder it leads to that does not exist, is a ConfigError naming the variable
    and where the data sets come from, before anything else reads the data."""
    section = data.get("data")
    root = section.get("root") if isinstance(section, dict) else None
    if not isinstance(root, str) or not _VARIABLE.search(root):
        return data
    names = _VARIABLE.findall(root)
    unset = [n for n in names if not os.environ.get(n, "").strip()]
    if unset:
        raise ConfigError(
            f"{source}: data.root {root} uses ${unset[0]}, which is not set: export {unset[0]}=<the folder "
            f"that holds the data sets> (see {DATA_DOC}), or give --set data.root=<folder>"
        )
    expanded = _VARIABLE.sub(lambda m: os.environ[m.group(1)].strip(), root)
    if not Path(expanded).expanduser().is_dir():
        values = ", ".join(f"{n}={os.environ[n].strip()}" for n in dict.fromkeys(names))
        raise ConfigError(
            f"{source}: data.root {root} is {expanded} ({values}), which is not a folder: download the data "
            f"set into it (see {DATA_DOC}), or set {names[0]} to the folder that holds it"
        )
    return {**data, "data": {**section, "root": expanded}}


def read_config_mapping(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """A config file's mapping as validation sees it: read strictly, `--set` overrides written in, and
    `${NAME}` in data.root expanded."""
    return expand_data_root(apply_overrides(read_yaml(path), overrides), str(path))
