"""`project status`: what a project holds now, as numbers and as text for a terminal.

Consensus labels so far (by source and by annotator), class balance, how many images are agreed, wait for a
reviewer or for more annotators, inter-annotator agreement (Cohen's and Fleiss' kappa, mask Dice, each
annotator against the consensus, counts and median time per image), the problem images (corrupt or missing,
found again on every call), proposal rounds, and each model version's estimated quality against the number
of labels it was trained on (the project's learning curve).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from lesionlab.errors import DataError
from lesionlab.project.project import Project

BAR = 30


def _versions(project: Project) -> list[dict[str, Any]]:
    """Each model version with its primary metric and interval (the project's learning curve)."""
    versions = []
    for v in project.store.model_versions():
        primary = v.metrics.get("primary_metric")
        versions.append(
            {
                "version": v.id,
                "n_labels": v.n_labels,
                "method": v.method,
                "primary_metric": primary,
                "score": v.metrics.get(primary) if primary else None,
                "ci95": (v.metrics.get("ci95") or {}).get(primary) if primary else None,
                "metrics": v.metrics,
                "checkpoint": v.checkpoint,
                "created_at": v.created_at.isoformat(),
            }
        )
    return versions


def _start(project: Project, versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run a project started from (`init --from-run`) and its domain check (model version 0's)."""
    start = project.config.start
    if start is None:
        return None
    zero = next((v for v in versions if v["version"] == 0), None)
    domain = (zero or {}).get("metrics", {}).get("domain_check")
    return {"run": start.run, "sha256": start.sha256, "class_map": start.class_map, "domain_check": domain}


def project_status(project: Project, check_images: bool = True, agreement: bool = True) -> dict[str, Any]:
    """Everything `project status` shows, as JSON-able numbers; `agreement=False` leaves the agreement
    figures out (the server's answer to an annotator)."""
    problems = (
        project.check_images()
        if check_images
        else [
            {"image_id": r.image_id, "status": r.status, "problem": r.problem}
            for r in project.store.images()
            if r.status != "ok"
        ]
    )
    from lesionlab.project import mask_files
    from lesionlab.project.service.review import agreement as agreement_of

    images = project.store.images()
    entries = project.store.label_entries()
    fused = mask_files.mask_consensus_all(project)
    balance = Counter(e.label for e in entries.values())
    rounds = project.store.rounds()
    queue = project.store.queue(annotator=None)
    flags = project.store.flags()
    versions = _versions(project)
    return {
        "project": project.config.name,
        "task": project.config.task,
        "target": project.task.target,
        "classes": project.classes,
        "images": {
            "total": len(images),
            "usable": sum(r.status == "ok" for r in images),
            "problems": problems,
        },
        "labels": {
            "total": len(entries),
            "by_source": dict(Counter(e.source for e in entries.values())),
            "by_annotator": project.store.annotators(),
            "class_balance": {c: balance.get(i, 0) for i, c in enumerate(project.classes)},
            "masks": sum(m.path is not None and m.consensus.usable for m in fused.values()),
        },
        "overlap": project.config.overlap,
        "consensus": project.consensus_counts(),
        "agreement": agreement_of(project) if agreement else None,
        "rounds": [
            {
                "round": r.id,
                "strategy": r.strategy,
                "model_version": r.model_version_id,
                "budget": r.budget,
                "n_labels": r.n_labels,
            }
            for r in rounds
        ],
        "queue": len(queue),
        "audit": {"flags": len(flags), "pending": sum(f.outcome is None for f, _ in flags)},
        "models": versions,
        "start": _start(project, versions),
        "database": project.store.engine.url.render_as_string(hide_password=True),
    }


def format_status(status: dict[str, Any]) -> str:
    """A terminal summary; model quality per version is drawn as a bar per version (a curve over labels)."""
    img, lab = status["images"], status["labels"]
    lines = [
        f"project {status['project']} ({status['task']}; classes: {', '.join(status['classes'])})",
        f"images: {img['usable']} usable of {img['total']}",
    ]
    for p in img["problems"]:
        lines.append(f"  skipped {p['image_id']}: {p['status']} ({p.get('problem') or ''})")
    lines.append(
        f"labels: {lab['total']} ({', '.join(f'{k} {v}' for k, v in lab['by_source'].items()) or 'none'})"
    )
    if lab["masks"] or status["target"] == "mask":
        lines.append(f"masks: {lab['masks']}")
    total = max(lab["total"], 1)
    width = max(len(c) for c in status["classes"])
    for name, n in lab["class_balance"].items():
        lines.append(f"  {name.ljust(width)} {str(n).rjust(5)}  {'#' * round(BAR * n / total)}")
    lines.extend(_team_lines(status))
    from lesionlab.project.transfer import format_start

    lines.extend(format_start(status.get("start")))
    lines.append(f"proposal rounds: {len(status['rounds'])}; waiting in the queue: {status['queue']}")
    audit = status["audit"]
    if audit["flags"]:
        lines.append(f"audit flags: {audit['flags']} ({audit['pending']} waiting for review)")
    if status["models"]:
        lines.append("model quality (estimated) by version:")
        for v in status["models"]:
            score = v["score"]
            bar = "#" * round(BAR * score) if isinstance(score, float) else ""
            shown = f"{score:.3f}" if isinstance(score, float) else "n/a"
            ci = v.get("ci95")
            if ci and all(isinstance(c, float) for c in ci):
                shown += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
            lines.append(
                f"  v{v['version']:<3} {str(v['n_labels']).rjust(5)} labels  "
                f"{v['primary_metric'] or 'quality'} {shown}  {bar}  ({v['method']})"
            )
    else:
        lines.append("models: none yet (`lesionlab project train`)")
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _team_lines(status: dict[str, Any]) -> list[str]:
    """Consensus counts, agreement and per-annotator figures, for the terminal."""
    counts, agr = status["consensus"], status["agreement"] or {}
    lines = []
    if counts:
        shown = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        lines.append(f"overlap {status['overlap']}: {shown}")
    if not agr:
        return lines
    if agr["fleiss_kappa"] is not None:
        lines.append(
            f"agreement: Fleiss' kappa {_num(agr['fleiss_kappa'], 3)} over {agr['fleiss_items']} images "
            f"({agr['fleiss_raters']} annotators each)"
        )
    for pair, v in agr["cohen_kappa"].items():
        lines.append(f"  Cohen's kappa {pair.replace('|', ' vs ')}: {_num(v['kappa'], 3)} (n={v['n']})")
    for pair, v in agr["mask_dice"].items():
        lines.append(f"  mask Dice {pair.replace('|', ' vs ')}: {_num(v['dice'], 3)} (n={v['n']})")
    people = []
    for name, v in agr["annotators"].items():
        notes = []
        if v["median_seconds"] is not None:
            notes.append(f"median {_num(v['median_seconds'], 1)} s/image")
        vs = agr["vs_consensus"].get(name)
        if vs:
            notes.append(f"vs consensus {_num(vs['agreement'])}")
        people.append(f"{name} {v['annotations']}" + (f" ({', '.join(notes)})" if notes else ""))
    if people:
        lines.append("annotators: " + ", ".join(people))
    return lines


def plot_quality(status: dict[str, Any], out: Path) -> Path:
    """The project's learning curve as a PNG: each version's estimated primary metric (with its 95 %
    interval where recorded) against the number of labels it was trained on. Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lesionlab.io import atomic_file

    versions = [v for v in status["models"] if isinstance(v["score"], float)]
    if not versions:
        raise DataError("no model version has a quality estimate yet; run `lesionlab project train` first")
    fig = Figure(figsize=(5, 3.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = [v["n_labels"] for v in versions]
    y = [v["score"] for v in versions]
    ax.plot(x, y, "o-", color="#7a4e3b")
    for v in versions:
        if v.get("ci95") and all(isinstance(c, float) for c in v["ci95"]):
            ax.plot([v["n_labels"]] * 2, v["ci95"], color="#7a4e3b", alpha=0.4, lw=3)
        ax.annotate(
            f"v{v['version']}", (v["n_labels"], v["score"]), textcoords="offset points", xytext=(4, 4)
        )
    ax.set_xlabel("labels")
    ax.set_ylabel(f"{versions[-1]['primary_metric']} (cross-validated)")
    ax.set_title(f"{status['project']}: model quality by version")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    with atomic_file(out) as fh:
        fig.savefig(fh, format="png", dpi=120)
    return out
