"""Check that no module is over 400 lines and no function over 60 (issue 32, item 6).

Why a script and not a linter rule: ruff has no module-length rule, and its statement-count rule
(PLR0915) counts statements, not the lines a reader has to hold in their head. This counts what a reader
sees: a module's lines, and each function's lines from its ``def`` to its last line (docstring, comments
and blank lines included), for methods and nested functions too. Alembic migrations are exempt: they are
generated, applied once and never edited.

Usage: ``python scripts/check_sizes.py [PATH ...]`` (default: ``src/lesionlab benchmarks``); exits 1 and
lists every offender, largest first.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Path fragments (POSIX) of files exempt from both limits: generated Alembic migrations only.
ALLOWED = ("lesionlab/project/migrations/",)

DEFAULT_PATHS = ("src/lesionlab", "benchmarks")


@dataclass(frozen=True)
class Offender:
    """One module or function over its limit."""

    path: str
    name: str  # "" for the module itself, else the qualified function name
    line: int
    lines: int
    limit: int

    def __str__(self) -> str:
        what = "module" if not self.name else f"function {self.name}"
        return f"{self.path}:{self.line}: {what} has {self.lines} lines (limit {self.limit})"


def is_allowed(path: Path) -> bool:
    """True for files exempt from the limits (Alembic migrations)."""
    posix = path.as_posix()
    return any(fragment in posix for fragment in ALLOWED)


def function_sizes(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(qualified name, first line, line count) of every function, method and nested function.

    The count runs from the ``def`` line (decorators excluded) to the function's last line, so a nested
    function counts both on its own and inside the function that holds it.
    """
    sizes: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                sizes.append((name, child.lineno, child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return sizes


def check_file(path: Path) -> list[Offender]:
    """Offenders in one Python file (none if it is allowed)."""
    if is_allowed(path):
        return []
    text = path.read_text(encoding="utf-8")
    offenders = []
    module_lines = len(text.splitlines())
    if module_lines > MAX_MODULE_LINES:
        offenders.append(Offender(str(path), "", 1, module_lines, MAX_MODULE_LINES))
    for name, line, count in function_sizes(ast.parse(text, filename=str(path))):
        if count > MAX_FUNCTION_LINES:
            offenders.append(Offender(str(path), name, line, count, MAX_FUNCTION_LINES))
    return offenders


def python_files(paths: list[Path]) -> list[Path]:
    """Every .py file under the given files and folders, sorted."""
    files: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise SystemExit(f"check_sizes: {path} does not exist; pass a file or folder of Python files")
        files.update([path] if path.is_file() else path.rglob("*.py"))
    return sorted(files)


def check(paths: list[Path]) -> list[Offender]:
    """All offenders under the paths, largest overshoot first."""
    offenders = [o for file in python_files(paths) for o in check_file(file)]
    return sorted(offenders, key=lambda o: (o.lines - o.limit, o.path), reverse=True)


def main(argv: list[str] | None = None) -> int:
    """Print every offender; 1 if there is any, else 0."""
    args = sys.argv[1:] if argv is None else argv
    offenders = check([Path(p) for p in (args or DEFAULT_PATHS)])
    for offender in offenders:
        print(offender)
    if offenders:
        print(
            f"{len(offenders)} over the limits ({MAX_MODULE_LINES} lines a module, "
            f"{MAX_FUNCTION_LINES} a function): split them by responsibility"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
