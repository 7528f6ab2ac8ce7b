"""The `lesionlab` command. Thin: parse, call the library, print; user errors never show a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lesionlab.cli_args import SetOption, Typer, refuse_blank_arguments, usage_error_line
from lesionlab.cli_cache import cache_app
from lesionlab.cli_evaluate import evaluate, print_metrics
from lesionlab.cli_project import project_app
from lesionlab.cli_score import score
from lesionlab.io import user_message
from lesionlab.locking import output_lock

try:  # newer typer carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException

app = Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Active learning, label-efficient training and label review for skin-lesion images.",
)
datasets_app = Typer(no_args_is_help=True, help="Inspect data sources.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(cache_app, name="cache")
app.add_typer(project_app, name="project")
app.command("score")(score)
app.command()(evaluate)
console = Console()
err_console = Console(stderr=True)


@datasets_app.command("describe")
def datasets_describe(
    source: Annotated[str, typer.Argument(help="isic2017, ham10000 or folder")],
    root: Annotated[Path, typer.Option(help="dataset folder (for folder: the images folder)")],
    task: Annotated[
        str | None, typer.Option(help="task, e.g. melanoma / seborrheic_keratosis / 3class")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option(help="folder source: CSV with image_id,label[,split,group]")
    ] = None,
    masks: Annotated[Path | None, typer.Option(help="folder source: folder of masks")] = None,
    mask_pattern: Annotated[
        str | None, typer.Option(help="folder source: mask file name, e.g. {id}_mask.png")
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option(help="folder source, two classes: the positive class (guessed if not given)"),
    ] = None,
    resize: Annotated[
        str, typer.Option(help="how non-square images become square: squash, center_crop or pad")
    ] = "squash",
) -> None:
    """Count images per split and class, and check that every image and mask can be used."""
    from lesionlab.data.preprocess import RESIZE_MODES
    from lesionlab.data.sources import load_source
    from lesionlab.data.validate import describe, inspect_files
    from lesionlab.errors import ConfigError

    if resize not in RESIZE_MODES:
        raise ConfigError(f"unknown --resize {resize!r}: choose one of {', '.join(RESIZE_MODES)}")
    given = {"csv": csv, "masks": masks, "mask_pattern": mask_pattern, "positive": positive}
    options = {k: v for k, v in given.items() if v is not None}
    dataset = load_source(source, root, task, **options)
    report = inspect_files(dataset, progress=True)
    console.print(describe(dataset, report=report, resize=resize), highlight=False)
    if report.problems:
        raise typer.Exit(1)


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML config (see docs/configuration.md)")],
    force: Annotated[bool, typer.Option(help="overwrite a finished run in the output folder")] = False,
    sets: SetOption = None,
) -> None:
    """Train one model on a source's train split (epoch picked on val) and report test metrics."""
    from lesionlab.config import TrainRunConfig, load_config
    from lesionlab.supervised import train_run

    run_config = load_config(TrainRunConfig, config, sets or ())
    with output_lock(run_config.output):  # one writer per output folder
        result = train_run(run_config, force=force)
    if "test" in result:
        print_metrics(result["test"], f"test metrics ({result['n_test']} images)")
    elif "val" in result:  # segmentation without test masks (ISIC 2017) reports the validation masks
        print_metrics(result["val"], f"validation metrics ({result['n_val']} images)")
    else:  # an empty table would read as a failure: say why there is none and how to get one
        err_console.print(
            f"note: {result['dataset']} has no test images, so no metrics: for a folder source write "
            "test (and val, to choose the epoch) in a `split` column of the labels CSV, or measure the "
            "model on other images with `lesionlab evaluate RUN_DIR --data folder ...`",
            highlight=False,
        )
    console.print(f"best epoch {result['best_epoch']}; wrote {Path(result['config']['output'])}/metrics.json")


@app.command()
def pretrain(
    config: Annotated[Path, typer.Argument(help="YAML pretraining config (docs/methods.md)")],
    force: Annotated[bool, typer.Option(help="overwrite a pre-trained model in the output folder")] = False,
    sets: SetOption = None,
) -> None:
    """Self-supervised Models Genesis pre-training of a segmentation U-Net on unlabelled images."""
    from lesionlab.config import load_config
    from lesionlab.selfsup.config import PretrainConfig
    from lesionlab.selfsup.pretrain import CHECKPOINT
    from lesionlab.selfsup.pretrain import pretrain as run_pretrain

    pretrain_config = load_config(PretrainConfig, config, sets or ())
    with output_lock(pretrain_config.output):  # one writer per output folder
        result = run_pretrain(pretrain_config, force=force)
    out = Path(result["config"]["output"])
    console.print(
        f"pre-trained on {result['n_images']} images; best epoch {result['best_epoch']}; wrote "
        f"{out / CHECKPOINT} (use it as model.weights to warm-start segmentation)"
    )


def _numbers(text: str, kind: type) -> list:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        message = f"write comma-separated {kind.__name__}s, e.g. 1,4,8; got {text!r}"
        raise typer.BadParameter(message) from None


@app.command("choose-rule")
def choose_rule_cmd(
    run_dir: Annotated[Path, typer.Argument(help="output folder of `lesionlab train`")],
    objective: Annotated[
        str, typer.Option(help="what to maximise on val: accuracy, balanced_accuracy or mean")
    ] = "accuracy",
    min_balanced_accuracy: Annotated[
        float, typer.Option(help="only rules with at least this val balanced accuracy qualify")
    ] = 0.0,
    views: Annotated[str, typer.Option(help="view counts to try, comma-separated")] = "1,4,8",
    taus: Annotated[str, typer.Option(help="logit-adjustment powers to try")] = "0,0.25,0.5,0.75,1",
) -> None:
    """Choose the test-time rule (views averaged, logit adjustment) on the run's validation split.

    The rule is stored in RUN_DIR/decision_rule.json; `lesionlab evaluate` then applies it.
    """
    from rich.table import Table

    from lesionlab.supervised import choose_run_rule

    with output_lock(run_dir):  # not while `train --force` rewrites that run
        result = choose_run_rule(
            run_dir, objective, min_balanced_accuracy, _numbers(views, int), _numbers(taus, float)
        )
    table = Table(title=f"rules on the validation split ({result['n']} images)")
    for column in ("views", "tau", "accuracy", "balanced accuracy"):
        table.add_column(column, justify="right")
    for r in result["rules"]:
        chosen = (r["tta_views"], r["tau"]) == (result["tta_views"], result["tau"])
        style = "bold green" if chosen else None
        table.add_row(
            str(r["tta_views"]),
            f"{r['tau']:g}",
            f"{r['accuracy']:.3f}",
            f"{r['balanced_accuracy']:.3f}",
            style=style,
        )
    console.print(table)
    if not result["floor_met"]:
        err_console.print(
            f"no rule reaches balanced accuracy {min_balanced_accuracy:g}; chose the closest", style="yellow"
        )
    console.print(
        f"chosen: {result['tta_views']} view(s), tau {result['tau']:g}; "
        f"wrote {escape(str(Path(run_dir) / 'decision_rule.json'))}",
        highlight=False,
    )


@app.command("embed-plot")
def embed_plot(
    run_dir: Annotated[Path, typer.Argument(help="output folder of `lesionlab train`")],
    split: Annotated[str, typer.Option(help="train, val or test")] = "train",
    images: Annotated[int, typer.Option(help="original images to embed (a random subset if more)")] = 300,
    mosaics: Annotated[int, typer.Option(help="2x2 same-class mosaics made from those images")] = 100,
    out: Annotated[Path | None, typer.Option(help="PNG to write (default: RUN_DIR/tsne.png)")] = None,
) -> None:
    """t-SNE of a trained run's embeddings of originals and same-class mosaics (Shi et al. 2019, Fig. 2)."""
    from lesionlab.evaluation.embedding_plot import embed_plot as draw
    from lesionlab.supervised import load_trained_run

    with output_lock(run_dir):  # writes into the run: not while `train --force` replaces its model
        _, dataset, trainer = load_trained_run(run_dir)
        path = draw(trainer, dataset, out or run_dir / "tsne.png", split, images, mosaics)
    console.print(f"t-SNE plot: {path}")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="experiment YAML (see docs/configuration.md)")],
    force: Annotated[bool, typer.Option(help="overwrite a finished run in the output folder")] = False,
    engine: Annotated[
        str, typer.Option(help="serial (here, in turn), local (worker processes) or ray (Ray tasks)")
    ] = "serial",
    address: Annotated[
        str | None, typer.Option(help="--engine ray: an existing cluster (default: $RAY_ADDRESS, else local)")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="units at once (default: cores / threads)")] = None,
    threads_per_task: Annotated[
        int | None, typer.Option(help="threads per unit (default: train.num_threads, else 1)")
    ] = None,
    sets: SetOption = None,
) -> None:
    """Run (or resume) a simulated-oracle active-learning experiment and write its report.

    With --engine local or ray, every (strategy, seed) runs as its own process or Ray task (docs/scaling.md);
    the results equal a serial run's.
    """
    from lesionlab.config import load_experiment_config
    from lesionlab.runner.engines import Engine

    runner = Engine(engine, workers, threads_per_task, address)  # options checked before any work
    _run_and_report(load_experiment_config(config, sets or ()), force, runner)


@app.command()
def demo(
    preset: Annotated[
        str, typer.Option(help="sk (BALD vs random, seborrheic keratosis), melanoma (the old demo) or tiny")
    ] = "sk",
    out: Annotated[
        Path | None,
        typer.Option(help="folder for results.json and report.html (default: lesionlab-demo-PRESET)"),
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite a finished demo in --out")] = False,
    seeds: Annotated[int | None, typer.Option(help="number of seeds (default: the preset's)")] = None,
) -> None:
    """Active learning against random selection on ISIC 2017 data shipped with lesionlab (README: presets)."""
    from lesionlab.demo_presets import preset as find
    from lesionlab.runner.demo import demo_engine

    chosen = find(preset)
    config = chosen.config(out or Path(f"lesionlab-demo-{chosen.name}"), seeds)
    exp = config.experiment
    units = len(exp.strategies) * len(exp.seeds)
    err_console.print(
        f"demo {chosen.name}: {', '.join(exp.strategies)} on ISIC 2017 {chosen.task.replace('_', ' ')} vs "
        f"rest, {len(exp.seeds)} seeds, {exp.rounds} rounds: {units * (exp.rounds + 1)} models to train "
        "(the first run also caches the images' activations)",
        highlight=False,
        soft_wrap=True,
    )
    _run_and_report(config, force, demo_engine(chosen.workers))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="output folder of `lesionlab run` or `demo`")],
) -> None:
    """(Re)write the HTML report of a finished experiment."""
    from lesionlab.errors import ConfigError
    from lesionlab.evaluation.report import write_report
    from lesionlab.runner.summary_table import load_results

    results = load_results(run_dir)
    try:
        with output_lock(run_dir):  # not while a run writes the folder
            path = write_report(results, run_dir)
    except ValueError as exc:  # results that hold nothing to report, e.g. no finished round
        raise ConfigError(f"{run_dir / 'results.json'}: {exc}") from None
    console.print(f"report: {path}")


@app.command()
def audit(
    target: Annotated[
        Path, typer.Argument(help="a train/experiment YAML config, or a `lesionlab train` or `run` folder")
    ],
    out: Annotated[
        Path | None, typer.Option(help="folder for audit.csv/html/json (default: OUTPUT/audit)")
    ] = None,
    split: Annotated[str, typer.Option(help="train, val, test or all (every labelled image)")] = "train",
    views: Annotated[int, typer.Option(help="fixed augmented views per image (view 0 is plain)")] = 4,
    folds: Annotated[int, typer.Option(help="cross-validation folds for out-of-sample probabilities")] = 5,
    top: Annotated[int, typer.Option(help="most suspect images shown in the HTML gallery")] = 100,
    flips: Annotated[
        Path | None, typer.Option(help="file of image ids known to be wrong: precision/recall at k")
    ] = None,
    simulate_noise: Annotated[
        float, typer.Option(help="flip this share of labels first (symmetric, recorded)")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="seed of the folds and of simulated noise")] = 0,
    features: Annotated[
        str, typer.Option(help="backbone (untrained, out of sample) or run (the trained model)")
    ] = "backbone",
    run: Annotated[
        str | None,
        typer.Option(help="experiment folder: the run whose bought labels to audit, STRATEGY:SEED"),
    ] = None,
    sets: SetOption = None,
) -> None:
    """Rank labelled images by how likely their label is wrong; write a CSV and an HTML gallery to review."""
    from lesionlab.audit.command import run_audit
    from lesionlab.errors import ConfigError

    if features not in ("backbone", "run") or split not in ("train", "val", "test", "all"):
        raise ConfigError("--features must be backbone or run, --split train, val, test or all")
    if not 0 <= simulate_noise < 1:
        raise ConfigError(f"--simulate-noise must be in [0, 1), got {simulate_noise}")
    options = {"split": split, "views": views, "folds": folds, "top": top, "flips": flips, "seed": seed}
    options["overrides"] = sets or ()
    summary = run_audit(target, out, simulate_noise=simulate_noise, features=features, run=run, **options)  # type: ignore[arg-type]
    for m in summary["at_k"]:
        console.print(
            f"known flips: precision at {m['k']} {m['precision_at_k']:.3f}, recall {m['recall_at_k']:.3f}"
        )
    console.print(
        f"audited {summary['n_images']} images; review: {summary['out']}/audit.html (all: audit.csv)"
    )


def _run_and_report(config, force: bool, engine=None) -> None:
    from lesionlab.evaluation.report import write_report
    from lesionlab.io import next_step
    from lesionlab.runner.experiment import run_experiment
    from lesionlab.runner.summary_table import print_summary

    out = Path(config.output)
    with output_lock(out):  # held until the report is written: one writer per output folder
        results = run_experiment(config, force=force, engine=engine)  # one line per round on stderr
        print_summary(results, console)
        with next_step(f"run `lesionlab report {out}` (the results are saved in {out / 'results.json'})"):
            path = write_report(results, out)
    console.print(f"report: {path}")


def _one_line_warnings() -> None:
    """lesionlab's own warnings (a cache that cannot be written...) as one `warning: ...` line, like its
    errors, instead of Python's `/path/to/cache.py:146: RuntimeWarning: ...` plus a line of our source."""
    import warnings

    package = str(Path(__file__).parent)
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not str(filename).startswith(package):
            default(message, category, filename, lineno, file, line)
            return
        print(f"warning: {message}", file=file or sys.stderr, flush=True)

    warnings.showwarning = show


def _say_error(message: str) -> None:
    # Escaped: paths and values may hold brackets, which rich would read as markup. Not wrapped: one
    # line per line of the message, whatever the terminal width, so logs and scripts can grep it.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point: run the app; a LesionlabError (or a full disk anywhere) is one line on stderr, exit 2.

    Usage errors (an unknown option, a missing argument) are said in the same `error: ...` style, not in
    typer's boxed `Error` panel, so every failure of every command reads alike."""
    _one_line_warnings()
    try:
        refuse_blank_arguments(sys.argv[1:])
        code = app(standalone_mode=False, prog_name="lesionlab")
    except ClickException as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            _say_error(usage_error_line(exc))
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-C or end of input at a confirmation prompt
        _say_error("aborted")
        sys.exit(1)
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        _say_error(message)
        sys.exit(2)
    if isinstance(code, int) and code:  # typer.Exit(1) from a command, or 130 after Ctrl-C
        sys.exit(code)


if __name__ == "__main__":
    main()
