"""`lesionlab cache info|clear`: see and clear the decoded-image and activation caches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lesionlab.cli_args import Typer

console = Console()
cache_app = Typer(no_args_is_help=True, help="See and clear the decoded-image and activation caches.")

CacheDirOption = Annotated[
    Path | None, typer.Option(help="cache folder (default: $LESIONLAB_CACHE or ~/.cache/lesionlab)")
]


@cache_app.command("info")
def cache_info(cache_dir: CacheDirOption = None) -> None:
    """List the cache folders with their size; `stale` ones (older format) are never read again."""
    from rich.table import Table

    from lesionlab.cache_maintenance import cache_folders
    from lesionlab.data.cache import default_cache_dir

    root = cache_dir or default_cache_dir()
    folders = cache_folders(root)
    table = Table(title=f"caches in {root}")
    table.add_column("folder", overflow="fold")
    for column in ("kind", "files", "MB", "state"):
        table.add_column(column, justify="right" if column in ("files", "MB") else "left", no_wrap=True)
    for f in folders:
        state = "stale" if f.stale else "in use"
        table.add_row(f.path.name, f.kind, str(f.files), f"{f.bytes / 1e6:.0f}", state)
    console.print(table)
    stale = sum(f.bytes for f in folders if f.stale)
    console.print(f"total {sum(f.bytes for f in folders) / 1e6:.0f} MB, of which stale {stale / 1e6:.0f} MB")


@cache_app.command("clear")
def cache_clear(
    cache_dir: CacheDirOption = None,
    stale: Annotated[bool, typer.Option("--stale", help="remove only folders of an older format")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Remove cache folders; they are rebuilt when needed (decoding and trunk passes take time)."""
    from lesionlab.cache_maintenance import cache_folders, clear_cache
    from lesionlab.data.cache import default_cache_dir

    root = cache_dir or default_cache_dir()
    targets = [f for f in cache_folders(root) if f.stale or not stale]
    if not targets:
        console.print(f"nothing to remove in {root}")
        return
    size = sum(f.bytes for f in targets) / 1e6
    if not yes:
        typer.confirm(f"remove {len(targets)} cache folders ({size:.0f} MB) from {root}?", abort=True)
    removed = clear_cache(root, stale_only=stale)
    console.print(f"removed {len(removed)} folders ({size:.0f} MB) from {root}")
