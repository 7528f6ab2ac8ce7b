"""What `lesionlab project` commands print beyond a line: init's report, an import's notes, train's lines.

Kept apart from the commands (cli_project.py) so each module holds one responsibility."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from lesionlab.project.training import TrainResult

console = Console()


def say(text: str) -> None:
    console.print(escape(text), highlight=False, soft_wrap=True)


def init_report(project, project_dir: Path, labels: Path | None) -> None:
    """What `init` found (usable and skipped images) and imported."""
    scan = project.scan
    say(f"project {project.dir}: {len(project.store.image_ids())} usable images in {project.images_dir}")
    for p in scan.problems:
        say(f"  skipped {p['path']}: {p['status']} ({p['problem']})")
    for path in scan.duplicates:
        say(f"  skipped {path}: another file has the same id")
    if labels is not None:
        from lesionlab.project.interchange import import_labels, import_masks

        done = (import_masks if labels.is_dir() else import_labels)(project, labels)
        say(
            f"imported {done['stored']} label(s) from {labels}"
            + unknown_note(done["unknown"], done.get("ignored"))
        )
        warn_nearly_full(done)
    say(f"next: lesionlab project propose {project_dir} --budget 20")


def unknown_note(ids: list[str], ignored: list[str] | None = None) -> str:
    text = f"; {len(ids)} id(s) not in the project: {', '.join(ids[:5])}" if ids else ""
    if ignored:
        text += f"; {len(ignored)} file(s) not named <image_id>_segmentation.png: {', '.join(ignored[:5])}"
    return text


def warn_nearly_full(done: dict) -> None:
    """An import's masks that cover nearly all of their image (inverted?) are named, never stored unsaid."""
    from lesionlab.project.interchange import nearly_full_note

    note = nearly_full_note(done)
    if note is not None:
        say(note)


def train_lines(result: TrainResult) -> list[str]:
    """What `project train` prints (docs/annotation.md shows it; a test keeps the two alike)."""
    primary = result.metrics.get("primary_metric")
    score = result.metrics.get(primary)
    shown = f"{score:.3f}" if isinstance(score, float) else "n/a"
    ci = (result.metrics.get("ci95") or {}).get(primary)
    if ci and all(isinstance(c, float) for c in ci):
        shown += f" (95 % interval {ci[0]:.2f}-{ci[1]:.2f})"
    return [
        f"model v{result.version} on {result.n_labels} labels ({result.seconds:.0f} s): "
        f"{primary} {shown} by {result.method}; saved {result.checkpoint}",
        left_out_line(result.left_out),
    ]


def left_out_line(counts: dict[str, int]) -> str:
    """One line on the annotated images without a usable consensus (not trained on, not exported)."""
    return (
        f"left out: {counts.get('unresolved', 0)} image(s) unresolved (annotators disagree; a reviewer "
        f"decides on the page's Adjudicate tab), {counts.get('incomplete', 0)} still short of their overlap"
    )
