"""`lesionlab project ...`: the annotation project's commands (init, invite, people, propose, serve, train,
audit, status, export, import). Thin: parse, call `lesionlab.project`, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lesionlab.cli_args import Typer
from lesionlab.cli_project_notes import (
    init_report,
    left_out_line,
    say,
    train_lines,
    unknown_note,
    warn_nearly_full,
)
from lesionlab.errors import ConfigError

project_app = Typer(
    no_args_is_help=True,
    help="An annotation project over your own images: propose, label in the browser, train, audit.",
)

DirArg = Annotated[Path, typer.Argument(help="the project folder")]


@project_app.callback()
def _needs_extra() -> None:
    """Every project command needs the `project` extra; say so in one line rather than a traceback."""
    try:
        import alembic  # noqa: F401
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the annotation project needs the project extra: pip install 'lesionlab[project]' ({exc})"
        ) from exc


def _open(project_dir: Path):
    from lesionlab.project import open_project

    return open_project(project_dir)


# `init --from-run` and its options (aliases keep `init` itself short).
FromRunOption = Annotated[
    Path | None,
    typer.Option(help="a `lesionlab train` output folder (classification) to start from: model v0"),
]
ClassMapOption = Annotated[
    str | None,
    typer.Option(help="with --from-run: RUN_CLASS=PROJECT_CLASS pairs, e.g. other=benign,melanoma=melanoma"),
]
CoverageShareOption = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        help="with --from-run: share of each proposal round chosen for coverage rather than by the "
        "run's model (default 0.5)",
    ),
]


@project_app.command("init")
def init(
    project_dir: DirArg,
    images: Annotated[Path, typer.Option(help="folder of images (read only, never copied)")],
    classes: Annotated[
        str | None,
        typer.Option(help="class names, comma-separated, e.g. benign,melanoma (segmentation: optional)"),
    ] = None,
    task: Annotated[
        str, typer.Option(help="a registered task: classification or segmentation")
    ] = "classification",
    labels: Annotated[
        Path | None,
        typer.Option(
            help="existing labels to import: ISIC-style or image_id,label CSV, Label Studio JSON, "
            "or a folder of <image_id>_segmentation.png masks"
        ),
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="database URL (default: SQLite in the folder); env:NAME reads $NAME")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(help="strategy once a model exists (default: entropy; segmentation: pixel_entropy)"),
    ] = None,
    overlap: Annotated[
        int, typer.Option(help="how many different people annotate each image (consensus of them)")
    ] = 1,
    from_run: FromRunOption = None,
    class_map: ClassMapOption = None,
    coverage_share: CoverageShareOption = None,
    metadata: Annotated[
        Path | None,
        typer.Option(help="CSV of per-image metadata (image_id, age, sex, site ...) shown on the page"),
    ] = None,
) -> None:
    """Create a project: scan and check the images, optionally import labels or start from a trained run."""
    from lesionlab.project import init_project

    _check_metadata(metadata)  # a CSV without an id column stops here, before the project exists
    if coverage_share is not None and from_run is None:
        raise ConfigError("--coverage-share applies to a project started from a run: add --from-run RUN")
    if from_run is not None:
        if task != "classification":
            raise ConfigError(f"--from-run starts classification projects only, not {task}: leave one out")
        settings = {
            "overlap": overlap,
            "database": database,
            "strategy": strategy,
            "coverage_share": coverage_share,
        }
        _init_from_run(project_dir, images, from_run, classes, class_map, labels, settings)
        return _add_metadata(project_dir, metadata)
    _check_init_options(task, classes, labels, strategy, overlap)
    names = [c.strip() for c in (classes or "background,lesion").split(",") if c.strip()]
    settings: dict[str, object] = {"overlap": overlap}
    if strategy is not None:
        settings["strategy"] = strategy
    with init_project(project_dir, images, names, task, database, **settings) as project:
        init_report(project, project_dir, labels)
    _add_metadata(project_dir, metadata)


def _check_metadata(csv_path: Path | None) -> None:
    if csv_path is not None:
        from lesionlab.project.metadata import read_metadata_csv

        read_metadata_csv(csv_path)


def _add_metadata(project_dir: Path, csv_path: Path | None) -> None:
    """`init --metadata`: each image's row of the CSV is kept in the project (lesionlab.project.metadata)."""
    if csv_path is None:
        return
    from lesionlab.project.metadata import import_metadata

    with _open(project_dir) as project:
        got = import_metadata(project.dir, csv_path, project.store.image_ids(), project.classes)
    out = f"metadata of {got['images']} image(s) from {csv_path}: {', '.join(got['columns']) or 'no columns'}"
    if got["left_out"]:
        out += f" (left out, they could give the answer away: {', '.join(got['left_out'])})"
    say(out + unknown_note(got["unknown"]))


def _init_from_run(
    project_dir: Path,
    images: Path,
    run: Path,
    classes: str | None,
    class_map: str | None,
    labels: Path | None,
    options: dict[str, Any],
) -> None:
    """`init --from-run`: the run's model is version 0, checked against the project's classes.
    `options`: overlap, database, strategy and coverage_share as given (None: the default)."""
    from lesionlab.project.transfer import describe_map, format_start, init_from_run, parse_class_map

    names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    _check_init_options(
        "classification", classes or "from-run", labels, options["strategy"], options["overlap"]
    )
    settings = {k: v for k, v in options.items() if v is not None or k == "database"}
    with init_from_run(project_dir, images, run, names, parse_class_map(class_map), **settings) as project:
        start = project.config.start
        say(f"model v0: {start.run} (sha256 {start.sha256[:12]}); classes: {describe_map(start.class_map)}")
        domain = project.store.model_versions()[0].metrics.get("domain_check")
        for line in format_start({**start.model_dump(), "domain_check": domain})[1:]:
            say(line)
        init_report(project, project_dir, labels)


def _check_init_options(
    task: str, classes: str | None, labels: Path | None, strategy: str | None, overlap: int
) -> None:
    """Refuse what `project init` cannot honour before any image is scanned."""
    from lesionlab.selection.base import get_strategy
    from lesionlab.tasks import get_task

    if strategy is not None:
        get_strategy(strategy)  # an unknown name stops here, with the list of known ones
    kind = get_task(task)  # an unknown task stops here, with the list of registered ones
    if classes is None and kind.class_labels:
        raise ConfigError(f"a {task} project needs --classes, e.g. --classes benign,melanoma")
    if not kind.class_labels and labels is not None and not labels.is_dir():
        raise ConfigError(
            f"--labels {labels}: a {task} project's annotations are {kind.target}s, not class labels; "
            "give a folder of <image_id>_segmentation.png masks"
        )
    if overlap < 1:
        raise ConfigError(f"--overlap must be at least 1, got {overlap}")


@project_app.command("invite")
def invite(
    project_dir: DirArg,
    name: Annotated[str, typer.Argument(help="the person's name (what their annotations record)")],
    role: Annotated[
        str | None,
        typer.Option(help="annotator, reviewer or admin (default: annotator; with --new-token: as before)"),
    ] = None,
    url: Annotated[
        str, typer.Option(help="the server's address as the person reaches it")
    ] = "http://localhost:8765",
    new_token: Annotated[
        bool, typer.Option("--new-token", help="replace an invited person's token (the old one stops)")
    ] = False,
    same_person: Annotated[
        bool,
        typer.Option("--same-person", help="let a revoked person in again (their answers are theirs)"),
    ] = False,
) -> None:
    """Invite a person: prints their personal link (shown once; only a hash of the token is kept)."""
    from lesionlab.project.people import invite as run
    from lesionlab.project.people import name_key, people

    with _open(project_dir) as project:
        token = run(project, name, role, new_token=new_token, same_person=same_person)
        row = next(p for p in people(project) if name_key(p["name"]) == name_key(name))
    say(f"{row['name']} ({row['role']}): {url.rstrip('/')}/?token={token}")
    say("send this link to them alone; it is shown once (lesionlab project invite --new-token replaces it)")


@project_app.command("people")
def people(
    project_dir: DirArg,
    revoke: Annotated[str | None, typer.Option(help="revoke this person's token")] = None,
) -> None:
    """List the invited people and their roles (never tokens); --revoke NAME shuts someone out."""
    from lesionlab.project.people import people as listing
    from lesionlab.project.people import revoke as run_revoke

    with _open(project_dir) as project:
        if revoke is not None:
            name = run_revoke(project, revoke)  # the stored spelling ("Alice" for --revoke alice)
            say(f"revoked {name}: their link no longer works (their annotations stay)")
        for p in listing(project):
            say(f"{p['name']}  {p['role']}{'  (revoked)' if p['revoked'] else ''}")


@project_app.command("propose")
def propose(
    project_dir: DirArg,
    budget: Annotated[int, typer.Option(help="how many images to propose")] = 20,
    strategy: Annotated[
        str | None, typer.Option(help="override the project's strategy for this round")
    ] = None,
) -> None:
    """Propose the next images to label (cold start: coreset on pretrained embeddings)."""
    from lesionlab.project.propose import propose as run

    with _open(project_dir) as project:
        result = run(project, budget, strategy)
        how = f"model v{result.model_version}" if result.model_version is not None else "pretrained backbone"
        say(f"round {result.round_id}: {len(result.ids)} image(s) proposed by {result.strategy} ({how})")
        if result.note:
            say(f"note: {result.note}")
        say(f"label them: lesionlab project serve {project_dir}")


@project_app.command("serve")
def serve(
    project_dir: DirArg,
    port: Annotated[int, typer.Option(help="port")] = 8765,
    host: Annotated[
        str, typer.Option(help="address to listen on (127.0.0.1: this machine only)")
    ] = "127.0.0.1",
) -> None:
    """Serve the labelling page to the invited people (each opens their own link)."""
    from lesionlab.project.server import serve as run

    run(project_dir, host, port, say=say)


@project_app.command("train")
def train(
    project_dir: DirArg,
    folds: Annotated[int | None, typer.Option(help="cross-validation folds (default: the project's)")] = None,
) -> None:
    """Fine-tune on all expert labels, estimate quality by cross-validation, keep a new model version."""
    from lesionlab.project.training import train_project

    with _open(project_dir) as project:
        result = train_project(project, folds)
        for line in train_lines(result):
            say(line)


@project_app.command("audit")
def audit(
    project_dir: DirArg,
    top: Annotated[int, typer.Option(help="flag at most this many labels")] = 20,
) -> None:
    """Flag labels that look wrong (label audit), for the page's review tab."""
    from lesionlab.project.audit import audit_project

    with _open(project_dir) as project:
        summary = audit_project(project, top)
        say(
            f"audited {summary.audited} labels: {summary.flagged} flagged for review"
            + (f" ({summary.already_flagged} already waiting)" if summary.already_flagged else "")
        )


@project_app.command("status")
def status(
    project_dir: DirArg,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="also draw model quality per version into this PNG")
    ] = None,
) -> None:
    """Labels so far, class balance, problem images, and model quality per version."""
    from lesionlab.project.status import format_status, plot_quality, project_status

    with _open(project_dir) as project:
        data = project_status(project)
    if plot is not None:
        say(f"model quality curve: {plot_quality(data, plot)}")
    if as_json:
        print(json.dumps(data, indent=1, default=str))
    else:
        say(format_status(data))


@project_app.command("export")
def export(
    project_dir: DirArg,
    out: Annotated[Path, typer.Option(help="folder to write into")],
    formats: Annotated[
        str, typer.Option("--format", help="comma-separated: isic, labelstudio, masks")
    ] = "isic,labelstudio,masks",
    image_urls: Annotated[
        str, typer.Option(help="Label Studio image URLs: local-files[:DOCUMENT_ROOT] or http(s)://.../")
    ] = "local-files",
) -> None:
    """Export labels as an ISIC-style CSV, Label Studio JSON (with its labelling config) and mask PNGs."""
    from lesionlab.project.interchange import export_project, labelstudio_options

    with _open(project_dir) as project:
        fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
        written = export_project(project, out, fmts, labelstudio_options(image_urls))
    left_out = written.pop("left_out")
    for fmt, info in written.items():
        say(f"{fmt}: {info['path']} ({next(v for k, v in info.items() if k != 'path')})")
    say(left_out_line(left_out))


@project_app.command("import")
def import_(
    project_dir: DirArg,
    labels: Annotated[
        Path,
        typer.Argument(help="ISIC-style or image_id,label CSV, Label Studio JSON, or a folder of masks"),
    ],
    annotator: Annotated[str, typer.Option(help="recorded as the labels' annotator")] = "import",
) -> None:
    """Import labels or masks (<image_id>_segmentation.png), recorded with source 'import'."""
    from lesionlab.project.interchange import import_labels, import_masks, left_out_note

    with _open(project_dir) as project:
        done = (import_masks if labels.is_dir() else import_labels)(project, labels, annotator)
    say(
        f"imported {done['stored']} label(s) of {done['read']} read from {labels}"
        + unknown_note(done["unknown"], done.get("ignored"))
        + left_out_note(done)
    )
    warn_nearly_full(done)
