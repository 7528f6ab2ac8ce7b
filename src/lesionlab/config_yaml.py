"""Reading a config file's YAML strictly: UTF-8 only, and no key written twice in one mapping (YAML's
last-one-wins would drop the first silently). Every failure is one ConfigError naming the file."""

from __future__ import annotations

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
