"""`lesionlab.registry.Registry`: names, refusals, lazy built-ins, entry-point plugins (on a path entry)."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from lesionlab.errors import ConfigError
from lesionlab.registry import PLUGIN_GROUPS, DuplicateNameError, Registry


def test_register_as_decorator_and_call_then_get_and_names() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("b")
    def make_b() -> str:
        return "b"

    assert reg.register("a", 1) == 1
    assert reg.get("b") is make_b and reg.get("a") == 1
    assert reg.names() == ["a", "b"] and "a" in reg and "c" not in reg and len(reg) == 2
    assert list(reg) == ["a", "b"]


def test_unknown_name_is_one_config_error_listing_the_choices() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("small", 1)
    reg.register("large", 2)
    with pytest.raises(ConfigError, match=r"^unknown widget 'medium'; choose one of: large, small$"):
        reg.get("medium")


def test_a_name_twice_is_refused_naming_both_owners() -> None:
    reg: Registry[object] = Registry("widget")

    class First:
        pass

    class Second:
        pass

    reg.register("w", First)
    reg.register("w", First)  # the same object again (imported twice) is harmless
    with pytest.raises(
        DuplicateNameError, match=r"widget 'w' is registered twice: by .*First and by .*Second"
    ):
        reg.register("w", Second)
    assert reg.get("w") is First
    assert issubclass(DuplicateNameError, ConfigError) and issubclass(DuplicateNameError, ValueError)


def test_blank_names_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        Registry("widget").register("  ", 1)


def test_prepare_sees_every_registration() -> None:
    reg: Registry[tuple] = Registry("widget", prepare=lambda name, obj: (name, obj))
    reg.register("x", 3)
    assert reg.get("x") == ("x", 3)


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))


def test_builtins_load_on_first_ask_whole_package_in_any_order(tmp_path: Path, monkeypatch) -> None:
    """A package listed as built-in is walked: each module registers, none needs naming anywhere."""
    home = types.ModuleType("regtest_home")
    home.REG = Registry("widget", builtins=("regtest_builtins",))
    monkeypatch.setitem(sys.modules, "regtest_home", home)
    source = "from regtest_home import REG\nREG.register({name!r}, {name!r})\n"
    _package(tmp_path, "regtest_builtins", {m: source.format(name=m) for m in ("zeta", "alpha", "mid")})
    monkeypatch.syspath_prepend(str(tmp_path))
    for m in ("regtest_builtins", "regtest_builtins.zeta", "regtest_builtins.alpha", "regtest_builtins.mid"):
        monkeypatch.delitem(sys.modules, m, raising=False)

    assert "regtest_builtins" not in sys.modules  # nothing imported before the registry is asked
    home.REG.register("early", "early")  # registering does not trigger loading
    assert "regtest_builtins" not in sys.modules
    assert home.REG.names() == ["alpha", "early", "mid", "zeta"]


def _dist(root: Path, dist: str, groups: dict[str, dict[str, str]]) -> None:
    """A minimal installed distribution: `<dist>-1.0.dist-info` with METADATA and entry_points.txt."""
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = []
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_entry_point_plugins_object_and_module_forms(tmp_path: Path, monkeypatch) -> None:
    home = types.ModuleType("regtest_home2")
    home.REG = Registry("widget", group="regtest.widgets")
    monkeypatch.setitem(sys.modules, "regtest_home2", home)
    _package(
        tmp_path,
        "regtest_plugin",
        {
            "objects": "GADGET = ('gadget',)\n",
            "registers": "from regtest_home2 import REG\nREG.register('by_import', 42)\n",
        },
    )
    _dist(
        tmp_path,
        "regtest_plugin",
        {"regtest.widgets": {"gadget": "regtest_plugin.objects:GADGET", "mod": "regtest_plugin.registers"}},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert home.REG.get("gadget") == ("gadget",)  # an object: registered under the entry point's name
    assert home.REG.get("by_import") == 42  # a module: its import registered
    assert "mod" not in home.REG


def test_a_broken_plugin_warns_and_is_named_when_a_name_is_missing(tmp_path: Path, monkeypatch) -> None:
    reg: Registry[int] = Registry("widget", group="regtest.broken")
    reg.register("fine", 1)
    _dist(tmp_path, "regtest_broken", {"regtest.broken": {"bad": "regtest_no_such_module:THING"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning, match=r"plugin 'bad = regtest_no_such_module:THING' from regtest_broken"):
        assert reg.get("fine") == 1  # runs that do not name it are unaffected
    with pytest.raises(ConfigError, match=r"unknown widget 'bad'; choose one of: fine \(plugins that failed"):
        reg.get("bad")


def test_the_plugin_groups() -> None:
    assert PLUGIN_GROUPS == (
        "lesionlab.strategies",
        "lesionlab.losses",
        "lesionlab.evidence",
        "lesionlab.tasks",
    )


@pytest.mark.slow  # a fresh Python process
def test_every_built_in_evidence_kind_exists_whichever_module_came_first() -> None:
    """Kinds registered in ssl_kmeans.py and seg_uncertainty.py used to exist only once those modules had
    been imported by something else; a fresh process asking first now sees every one."""
    import subprocess

    code = (
        "from lesionlab.selection.base import evidence_kinds, available_strategies\n"
        "kinds = evidence_kinds()\n"
        "print(sorted({'ssl_features', 'pixel_uncertainty', 'patch_probs', 'probs'} - set(kinds)))\n"
        "print('ssl_kmeans' in available_strategies())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]", "True"]


def test_the_projects_registries_take_what_an_entry_point_names() -> None:
    """A plugin's entry point may name a bare provider, loss function or Strategy class: each registry
    makes it a full entry (kind, loss without options, named strategy)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from pydantic import Field

    from lesionlab.config import Options as OptionsBase
    from lesionlab.runner.engines import ENGINES
    from lesionlab.runner.oracles import ORACLES
    from lesionlab.selection.base import EVIDENCE, STRATEGIES, Strategy, get_strategy
    from lesionlab.training.losses import LOSSES, build_loss, weighted_ce

    def gap(request):
        """(N,) a test provider."""

    class Bounded(Strategy):
        class Options(OptionsBase):
            depth: int = Field(3, ge=1)

        def __init__(self, depth: int = 3) -> None:
            self.depth = depth

    try:
        EVIDENCE.register("test_only_gap", gap)
        kind = EVIDENCE.get("test_only_gap")
        assert kind.provider is gap and kind.name == "test_only_gap" and "test provider" in kind.description
        LOSSES.register("test_only_plain", weighted_ce)
        logits, target = torch.randn(4, 2), F.one_hot(torch.tensor([0, 1, 0, 1]), 2).float()
        values = build_loss("test_only_plain").loss(logits, target, None).values
        torch.testing.assert_close(values, weighted_ce(logits, target, None).values)
        STRATEGIES.register("test_only_bounded", Bounded)
        assert get_strategy("test_only_bounded", depth=5).depth == 5 and Bounded.name == "test_only_bounded"
        with pytest.raises(ConfigError, match="'test_only_bounded': depth: Input should be greater than"):
            get_strategy("test_only_bounded", depth=0)  # the strategy's own Options model decides
        with pytest.raises(TypeError, match="expected a Strategy subclass"):
            STRATEGIES.register("test_only_not_a_strategy", np.mean)
    finally:
        for registry, name in ((EVIDENCE, "test_only_gap"), (LOSSES, "test_only_plain")):
            registry.unregister(name)
        STRATEGIES.unregister("test_only_bounded")
    assert ENGINES.names() == ["local", "ray", "serial"]
    assert ORACLES.names() == ["noisy", "noisy_ranked", "simulated"]
