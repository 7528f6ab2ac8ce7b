"""The documentation says what the program does (issue 34, item 3): each test pins one statement a
newcomer relies on, so the docs cannot drift from the code again without a failing test."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from lesionlab.cli_project import train_lines
from lesionlab.config import (
    DataConfig,
    ExperimentConfig,
    ExperimentSection,
    ModelConfig,
    TrainConfig,
    TrainRunConfig,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()


def _section(text: str, heading: str) -> str:
    """The text under `## heading` up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


# ------------------------------------------------------------------------ README


def test_every_doc_is_in_the_readme_documentation_list() -> None:
    listed = _section(README, "Documentation")
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if f"`docs/{p.name}`" not in listed]
    assert not missing, f"docs not in the README's documentation list: {missing}"


def test_the_readme_creates_the_venv_the_benchmarks_activate() -> None:
    benchmarks = (ROOT / "benchmarks" / "README.md").read_text()
    if ".venv/bin/activate" in benchmarks:
        assert "python -m venv .venv" in _section(README, "Set up and run (fresh machine, Python >= 3.10)")


def test_the_readme_promises_nothing_still_to_come() -> None:
    """It said Kim et al.'s HAM10000 benchmark was "still to come" long after docs/reproduction.md had it."""
    assert "still to come" not in README.lower()


def test_the_readme_and_examples_use_no_development_machine_paths() -> None:
    for path in [ROOT / "README.md", *sorted((ROOT / "examples").glob("*.yaml"))]:
        assert "../shared" not in path.read_text(), path.name


def test_docs_cite_methods_by_author_not_by_paper_number() -> None:
    """`paper 003` means nothing to a reader; file names such as `paper003.py` stay. Docs, the code's
    comments and docstrings, the examples and the benchmarks' prose alike."""
    sources = [
        ROOT / "README.md",
        *sorted(DOCS.glob("*.md")),
        *sorted((ROOT / "src" / "lesionlab").rglob("*.py")),
        *sorted((ROOT / "examples").glob("*.yaml")),
    ]
    for path in sources:
        hits = re.findall(r"[Pp]apers? 00\d", path.read_text())
        assert not hits, f"{path.name} cites {hits[:3]}"


# ------------------------------------------------------------------------ docs/configuration.md


def _documented(section: str) -> set[str]:
    """Field names in the first cell of each table row (`a`, or `a`, `b` on one row)."""
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """A model's field names; a nested section's fields as `section.field` (`initial.kind`)."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        inner = field.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out |= _fields(inner, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


SECTIONS = {
    "`data`": DataConfig,
    "`model`": ModelConfig,
    "`train`": TrainConfig,
    "`experiment` (experiment configs only)": ExperimentSection,
}


@pytest.mark.parametrize("heading", list(SECTIONS))
def test_configuration_md_documents_every_field(heading: str) -> None:
    """docs/configuration.md claims every field; `train.resize` and `train.progress` were missing."""
    text = (DOCS / "configuration.md").read_text()
    documented, fields = _documented(_section(text, heading)), _fields(SECTIONS[heading])
    assert not fields - documented, f"{heading}: fields not documented: {sorted(fields - documented)}"
    assert not documented - fields, f"{heading}: documented but not fields: {sorted(documented - fields)}"


def test_configuration_md_documents_every_top_level_field() -> None:
    text = (DOCS / "configuration.md").read_text()
    sections = {"data", "model", "train", "experiment"}
    fields = (set(TrainRunConfig.model_fields) | set(ExperimentConfig.model_fields)) - sections
    assert _documented(_section(text, "Top level")) == fields


def test_resize_choices_in_the_docs_are_the_config_s() -> None:
    text = (DOCS / "configuration.md").read_text()
    choices = typing.get_args(TrainConfig.model_fields["resize"].annotation)
    row = next(line for line in text.splitlines() if line.startswith("| `resize` |"))
    assert all(f"`{c}`" in row for c in choices)


# ------------------------------------------------------------------------ docs/annotation.md


def _shape(line: str) -> str:
    """A line with every number as N: the same output with other numbers has the same shape."""
    return re.sub(r"\d+(\.\d+)?", "N", line.strip())


def test_annotation_md_shows_what_project_train_prints() -> None:
    """The walk-through showed `project train` without the 95 % interval and the left-out line it prints."""
    result = SimpleNamespace(
        version=1,
        n_labels=20,
        seconds=289.0,
        method="5-fold cross-validation",
        checkpoint="models/v0001/model.pt",
        metrics={"primary_metric": "auc", "auc": 0.656, "ci95": {"auc": [0.41, 0.9]}},
        left_out={"unresolved": 0, "incomplete": 0},
    )
    printed = [_shape(line) for line in train_lines(result)]
    text = (DOCS / "annotation.md").read_text().splitlines()
    # `project train` prints "model vN on N labels ..."; `project init --from-run` prints "model v0: <run>"
    shown = [k for k, line in enumerate(text) if re.match(r"model v\d+ on ", line)]
    assert shown, "docs/annotation.md shows no `project train` output"
    for k in shown:
        assert _shape(text[k]) == printed[0], text[k]
        assert _shape(text[k + 1]) == printed[1], text[k + 1]


# ------------------------------------------------------------------------ docs/evaluation.md and CHANGELOG


def test_evaluation_md_and_changelog_give_the_same_old_evaluate_time() -> None:
    """They said 8 s and 30 s for the same change (the vectorised bootstrap, 40 images)."""
    evaluation = (DOCS / "evaluation.md").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    before = re.search(r"for 40 images instead of (\d+) s", " ".join(evaluation.split()))
    logged = re.search(r"`lesionlab evaluate` took (\d+) s for 40 images", " ".join(changelog.split()))
    assert before and logged
    assert before.group(1) == logged.group(1)
