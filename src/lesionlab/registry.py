"""Named registries: what a config names (a strategy, a loss, an evidence kind, a task), and from where.

One small type serves every place a name in a YAML file becomes an object, so each behaves the same way:

- `register(name)` is a decorator (or `register(name, obj)` a call); a name taken twice is refused with
  both owners named, never silently replaced.
- `get(name)` answers the object or a `ConfigError` listing every valid choice (one line for the CLI).
- The first time a registry is asked (`get`, `names`, `in`), it imports its built-in modules (a package
  listed there is walked, so a new built-in module needs no edit anywhere) and then the third-party plugins
  of its entry-point group. What is registered therefore never depends on which module happened to be
  imported first.

A plugin is any installed distribution declaring an entry point in one of the groups below, e.g. in its
`pyproject.toml`::

    [project.entry-points."lesionlab.strategies"]
    my_strategy = "my_package.strategies"          # a module: importing it registers (decorators)
    other = "my_package.strategies:OtherStrategy"  # an object: registered under the entry point's name

A plugin that fails to import is reported as a warning and named in the error of a `get` that misses, so
a broken plugin never stops runs that do not use it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

from lesionlab.errors import ConfigError

T = TypeVar("T")

# Entry-point groups third-party packages register into (`importlib.metadata.entry_points(group=...)`).
STRATEGIES_GROUP = "lesionlab.strategies"
LOSSES_GROUP = "lesionlab.losses"
EVIDENCE_GROUP = "lesionlab.evidence"
TASKS_GROUP = "lesionlab.tasks"
PLUGIN_GROUPS = (STRATEGIES_GROUP, LOSSES_GROUP, EVIDENCE_GROUP, TASKS_GROUP)


class DuplicateNameError(ConfigError, ValueError):
    """A name registered twice: two strategies (or losses, ...) cannot answer to one name in a config."""


def _owner(obj: Any) -> str:
    """Where an object was defined, for messages: `package.module.Name`."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{name}"


class Registry(Generic[T]):
    """Objects of one kind by name, filled from built-in modules and entry-point plugins on first use.

    kind: what the names are, for messages ("strategy", "loss"); group: the entry-point group of its
    plugins (None: built-ins and explicit registrations only); builtins: modules (or packages, walked)
    whose import registers the built-in objects; prepare: called as `prepare(name, obj)` on every
    registration and returns what is stored (checks a class's own name, wraps a bare function, ...).
    """

    def __init__(
        self,
        kind: str,
        *,
        group: str | None = None,
        builtins: Sequence[str] = (),
        prepare: Callable[[str, Any], T] | None = None,
    ) -> None:
        self.kind, self.group, self.builtins = kind, group, tuple(builtins)
        self._prepare = prepare
        self._items: dict[str, T] = {}
        self._state = "new"  # new -> loading -> loaded
        self._lock = threading.RLock()
        self.plugin_errors: dict[str, str] = {}  # entry point "name = value" -> why it did not load

    # ------------------------------------------------------------------ registering
    @overload
    def register(self, name: str) -> Callable[[Any], Any]: ...

    @overload
    def register(self, name: str, obj: Any) -> Any: ...

    def register(self, name: str, obj: Any = None) -> Any:
        """Register `obj` under `name` (returns it), or return a decorator that does; duplicates refused."""
        if obj is None:
            return lambda target: self.register(name, target)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        with self._lock:
            stored = self._prepare(name, obj) if self._prepare is not None else obj
            if name in self._items:
                old = self._items[name]
                if old is stored or old is obj:
                    return obj  # the same object again (a module imported by a plugin and a walk)
                raise DuplicateNameError(
                    f"{self.kind} {name!r} is registered twice: by {_owner(old)} and by {_owner(obj)}; "
                    "give one of them another name"
                )
            self._items[name] = stored
        return obj

    def unregister(self, name: str) -> T | None:
        """Remove `name` (tests, interactive sessions); None when it was not registered."""
        with self._lock:
            return self._items.pop(name, None)

    # ------------------------------------------------------------------ asking
    def get(self, name: str) -> T:
        """The object registered as `name`; an unknown name is a ConfigError listing the choices."""
        self.load()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: Any) -> str:
        """`unknown strategy 'x'; choose one of: a, b` (plus any plugin that failed to load)."""
        message = f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
        if self.plugin_errors:
            failed = "; ".join(f"{ep}: {why}" for ep, why in sorted(self.plugin_errors.items()))
            message += f" (plugins that failed to load: {failed})"
        return message

    def names(self) -> list[str]:
        self.load()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        self.load()
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r}, {len(self._items)} registered)"

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Import the built-in modules, then the plugins, once (later calls return at once)."""
        if self._state == "loaded":
            return
        with self._lock:  # another thread loading: wait for it
            if self._state != "new":  # loaded, or loading in this thread (a built-in module asking)
                return
            self._state = "loading"
            try:
                for module in self.builtins:
                    _import_all(module)
            except BaseException:
                self._state = "new"  # a broken built-in is a bug: let the next call raise it again
                raise
            if self.group is not None:
                self._load_plugins()
            self._state = "loaded"

    def _load_plugins(self) -> None:
        for ep in importlib.metadata.entry_points(group=self.group):
            label = f"{ep.name} = {ep.value}"
            try:
                loaded = ep.load()
                if not isinstance(loaded, types.ModuleType) and not self._holds(loaded):
                    self.register(ep.name, loaded)
            except Exception as exc:  # a broken plugin must not stop runs that do not use it
                dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
                why = f"{type(exc).__name__}: {exc}"
                self.plugin_errors[label] = why
                warnings.warn(
                    f"lesionlab {self.kind} plugin {label!r} from {dist} could not be loaded ({why}); "
                    "runs that do not name it are unaffected",
                    stacklevel=2,
                )

    def _holds(self, obj: Any) -> bool:
        """Whether `obj` is already registered (a plugin whose import ran its own decorator)."""
        return any(v is obj or getattr(v, "provider", None) is obj for v in self._items.values())


def _import_all(name: str) -> None:
    """Import module `name`; if it is a package, every module below it too (sorted, so deterministic)."""
    module = importlib.import_module(name)
    path = getattr(module, "__path__", None)
    if path is None:
        return
    for info in sorted(pkgutil.walk_packages(path, prefix=f"{name}."), key=lambda m: m.name):
        importlib.import_module(info.name)
