"""No module uses another module's private names (issue 32, item 5).

A leading underscore says "only this module relies on me", so its author may change it freely; a
`from lesionlab.x import _name` or `x_module._name` elsewhere breaks that promise silently. A private
module (`pkg/_helpers.py`) is private to its package: only modules of that package may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_name(path: Path, src: Path) -> str:
    """Dotted name of a file under `src` (a file elsewhere, e.g. a benchmark, is named by its stem)."""
    if not path.is_relative_to(src):
        return path.stem
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, here: str, package: bool) -> str:
    """The absolute module named by a (possibly relative) `from ... import`."""
    if node.level == 0:
        return node.module or ""
    base = here.split(".") if package else here.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_module(dotted: str, src: Path) -> bool:
    """True if `dotted` names a module or package under `src`."""
    path = src.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _private_module_outside(target: str, here: str) -> bool:
    """True if `target` has a private module part and `here` is not inside the package holding it."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if _is_private(part):
            package = ".".join(parts[:i])
            return not (here == package or here.startswith(package + "."))
    return False


def private_uses(path: Path, src: Path = SRC) -> list[str]:
    """Every use in one file of another lesionlab module's private name, as 'file:line: what'."""
    here = module_name(path, src)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    modules: dict[str, str] = {}  # local name -> the lesionlab module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(node, here, path.name == "__init__.py")
            if not target.startswith("lesionlab") or target == here:
                continue
            if _private_module_outside(target, here):
                found.append((node.lineno, f"imports private module {target}"))
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if _is_module(full, src):
                    modules[alias.asname or alias.name] = full
                    if _private_module_outside(full, here):
                        found.append((node.lineno, f"imports private module {full}"))
                elif _is_private(alias.name):
                    found.append((node.lineno, f"imports {alias.name} from {target}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lesionlab"):
                    if _private_module_outside(alias.name, here):
                        found.append((node.lineno, f"imports private module {alias.name}"))
                    modules[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = ast.unparse(node.value)
            target = modules.get(owner, owner)
            if target.startswith("lesionlab") and target != here and _is_module(target, src):
                found.append((node.lineno, f"uses {owner}.{node.attr}"))
    return [f"{path}:{line}: {what}" for line, what in sorted(set(found))]


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_check_finds_each_kind_of_private_use(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src, "lesionlab/__init__.py", "")
    _write(src, "lesionlab/a.py", "_hidden = 1\nshown = 2\n")
    _write(src, "lesionlab/pkg/__init__.py", "")
    _write(src, "lesionlab/pkg/_helpers.py", "def tool(): ...\n")
    inside = "from lesionlab.pkg._helpers import tool\nfrom . import _helpers\n"
    _write(src, "lesionlab/pkg/inside.py", inside)
    user = _write(
        src,
        "lesionlab/user.py",
        "from lesionlab.a import _hidden, shown\n"
        "import lesionlab.a as a_module\n"
        "from lesionlab import a\n"
        "from lesionlab.pkg._helpers import tool\n"
        "from lesionlab.pkg import _helpers\n"
        "x = a_module._hidden + a._hidden + a_module.shown + a.__name__ + lesionlab.a._hidden\n"
        "def f():\n    from .a import _hidden\n",
    )
    uses = [use.split(": ", 1)[1] for use in private_uses(user, src)]
    assert uses == [
        "imports _hidden from lesionlab.a",
        "imports private module lesionlab.pkg._helpers",
        "imports private module lesionlab.pkg._helpers",
        "uses a._hidden",
        "uses a_module._hidden",
        "uses lesionlab.a._hidden",
        "imports _hidden from lesionlab.a",
    ]
    # A package's own modules may use its private module, and a module its own private names.
    assert private_uses(src / "lesionlab/pkg/inside.py", src) == []
    assert private_uses(src / "lesionlab/a.py", src) == []


def test_no_module_uses_another_modules_private_names() -> None:
    files = sorted((SRC / "lesionlab").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    uses = [use for file in files for use in private_uses(file)]
    assert not uses, "private names used across modules (make them public or move them):\n" + "\n".join(uses)
