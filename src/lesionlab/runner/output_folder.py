"""The output folder of a run before any work: a finished run is not overwritten without `--force`, with
`--force` the old run goes (only once config and data are known to be usable), and saved states made
under other settings are refused (`runner.resume`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lesionlab.config import ExperimentConfig
from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError
from lesionlab.runner.resume import check_resume, fingerprint


def refuse_finished(out: Path, force: bool) -> None:
    """A finished run (its `results.json`) is overwritten only with `force`."""
    if (out / "results.json").exists() and not force:
        raise ConfigError(
            f"{out} already holds a finished run; pass --force to overwrite or choose another output"
        )


def prepare_output(out: Path, config: ExperimentConfig, dataset: LabeledDataset, force: bool) -> None:
    """Remove the old run with `force`; record this run's settings, or refuse saved states of others."""
    if force:
        shutil.rmtree(out / "state", ignore_errors=True)
        (out / "results.json").unlink(missing_ok=True)
    try:
        check_resume(out / "state", fingerprint(config, dataset), force)
    except OSError as exc:
        raise ConfigError(
            f"cannot write to the output folder {out} ({exc.strerror or exc}): choose a writable `output`"
        ) from None
