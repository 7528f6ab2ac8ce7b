"""Issue 13 checks on data sources: the positive class, label spelling, leakage between splits, images
without a CSV row, blank labels, and what `datasets describe` says about them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.data.loading import load_dataset
from lesionlab.data.sources import load_folder, load_ham10000, load_isic2017, load_source
from lesionlab.data.sources.folder import guess_positive
from lesionlab.data.validate import describe, inspect_files
from lesionlab.errors import ConfigError, DataError

runner = CliRunner()


def _folder(
    tmp_path: Path, rows: str, names: tuple[str, ...] = ("a", "b", "c", "d", "e")
) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (8, 8), (10 * i, 80, 60)).save(images / f"{name}.png")
    csv = tmp_path / "labels.csv"
    csv.write_text(rows)
    return images, csv


# --- the positive class ------------------------------------------------------------------------------


def test_not_x_label_is_negative_and_the_guess_is_said(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,melanoma\nb,not_melanoma\nc,not_melanoma\n")
    ds = load_folder(images, csv)
    # Sorted order made "not_melanoma" positive: every binary metric described the wrong class.
    assert ds.classes == ["not_melanoma", "melanoma"] and ds.positive_class == "melanoma"
    assert ds.positive_guessed and "'not_melanoma' reads as a negative label" in ds.positive_rule
    assert [r.label for r in ds.records] == [1, 0, 0]
    summary = ds.summary()
    assert "positive class: melanoma (guessed:" in summary and "data.options.positive" in summary


def test_explicit_positive_from_config_options_and_any_case(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,mole\nb,melanoma\nc,melanoma\n")
    ds = load_source("folder", images, csv=str(csv), positive="MELANOMA")
    assert ds.classes == ["mole", "melanoma"] and not ds.positive_guessed
    assert "positive class: melanoma\n" in ds.summary() + "\n" and "guessed" not in ds.summary()
    assert [r.label for r in ds.records] == [0, 1, 1]
    with pytest.raises(ConfigError, match="'nevus' is not one of the classes melanoma, mole"):
        load_folder(images, csv, positive="nevus")


def test_positive_for_three_classes_is_refused(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,mole\nb,melanoma\nc,nevus\n")
    with pytest.raises(ConfigError, match=r"two-class tasks.*3 classes"):
        load_folder(images, csv, positive="melanoma")
    assert load_folder(images, csv).positive_class is None


@pytest.mark.parametrize(
    ("classes", "counts", "positive"),
    [
        (["benign", "malignant"], {"benign": 1, "malignant": 9}, "malignant"),
        (["0", "1"], {"0": 1, "1": 9}, "1"),
        (["No", "Yes"], {}, "Yes"),
        (["melanoma", "Non-melanoma"], {}, "melanoma"),
        (["nevus", "no lesion"], {}, "nevus"),
        (["mel", "nv"], {"mel": 3, "nv": 10}, "mel"),  # neither reads negative: the rarer class
        (["mel", "nv"], {"mel": 10, "nv": 3}, "nv"),
        (["mel", "nv"], {"mel": 4, "nv": 4}, "nv"),  # a tie keeps the alphabetical order
    ],
)
def test_guess_rule(classes: list[str], counts: dict[str, int], positive: str) -> None:
    guessed, why = guess_positive(classes, Counter(counts))
    assert guessed == positive and "data.options.positive" in why


def test_isic2017_and_ham10000_say_their_positive_class(tiny_isic) -> None:
    ds = load_isic2017(tiny_isic.root)
    assert ds.positive_class == "melanoma" and not ds.positive_guessed
    assert "positive class: melanoma\n" in ds.summary() + "\n"
    assert load_isic2017(tiny_isic.root, task="3class").positive_class is None


def test_ham10000_is_multiclass_without_positive(tmp_path: Path) -> None:
    from test_sources import make_ham10000

    assert load_ham10000(make_ham10000(tmp_path / "ham", lesions_per_class=2)).positive_class is None


# --- label spelling ------------------------------------------------------------------------------------


def test_labels_differing_in_case_or_spaces_are_one_class(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,Melanoma\nb, melanoma \nc,MELANOMA\nd,mole\n")
    ds = load_folder(images, csv, positive="melanoma")
    assert ds.classes == ["mole", "Melanoma"]  # first spelling seen; was three classes
    assert [r.label for r in ds.records] == [1, 1, 1, 0]
    ds = load_folder(images, csv, classes=["MOLE", "melanoma"])  # given classes: [negative, positive]
    assert ds.classes == ["MOLE", "melanoma"] and [r.label for r in ds.records] == [1, 1, 1, 0]
    assert ds.positive_class == "melanoma" and not ds.positive_guessed
    with pytest.raises(ConfigError, match="distinct"):
        load_folder(images, csv, classes=["mole", "Mole"])


# --- leakage -------------------------------------------------------------------------------------------


def test_same_file_listed_twice_is_refused(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label,split\na,mole,train\nb,mel,train\na.png,mole,test\n")
    with pytest.raises(
        DataError,
        match=r"listed more than once in .*labels\.csv: a\.png as 'a' \(train\) and "
        r"'a\.png' \(test\)",
    ):
        load_folder(images, csv)


def test_group_in_two_splits_is_refused_naming_it(tmp_path: Path) -> None:
    rows = "image_id,label,split,group\na,mole,train,p1\nb,mel,train,p2\nc,mole,test,p1\nd,mel,val,p2\n"
    images, csv = _folder(tmp_path, rows)
    with pytest.raises(DataError) as info:
        load_folder(images, csv)
    message = str(info.value)
    assert "2 group(s) have images in more than one split" in message and "labels.csv" in message
    assert "'p1' (train: a; test: c)" in message and "'p2' (train: b; val: d)" in message
    # Groups within one split are fine.
    csv.write_text("image_id,label,split,group\na,mole,train,p1\nb,mel,train,p1\nc,mole,test,p2\n")
    assert len(load_folder(images, csv).records) == 3


# --- images without a row, blank labels ------------------------------------------------------------------


def test_images_without_a_row_are_counted_and_named(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,mole\nb,mel\n")
    Image.new("L", (8, 8)).save(images / "a_segmentation.png")  # a mask kept beside its image: not counted
    ds = load_folder(images, csv, masks=images)
    assert [p.name for p in ds.unlisted] == ["c.png", "d.png", "e.png"]
    assert f"note: 3 image(s) have no row in {csv} and are ignored: c.png, d.png, e.png" in ds.summary()
    assert "no row" not in load_folder(images, csv.parent / _all_rows(tmp_path), masks=images).summary()


def _all_rows(tmp_path: Path) -> str:
    (tmp_path / "all.csv").write_text("image_id,label\n" + "".join(f"{n},mole\n" for n in "abcde"))
    return "all.csv"


def test_blank_labels_labeled_only_and_a_clear_message_for_train(tmp_path: Path) -> None:
    rows = "image_id,label,split\na,mole,train\nb,mel,train\nc,,test\nd,mel,test\ne,,val\n"
    images, csv = _folder(tmp_path, rows)
    ds = load_folder(images, csv)
    assert [r.id for r in ds.split("test", labeled_only=True)] == ["d"]
    assert [r.id for r in ds.split("test")] == ["c", "d"]
    assert ds.split("val", labeled_only=True) == []
    ds.require_labels("train")  # all train labels present
    with pytest.raises(
        DataError, match=r"2 image\(s\) of the val / test split have no label in .*labels\.csv: c, e"
    ):
        ds.require_labels("val", "test")
    assert ds.subset(ds.records[:2]).labels_file == csv  # subsets keep what messages need


def test_load_dataset_refuses_blank_train_labels_before_any_work(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,mole\nb,\nc,mel\n")
    data = SimpleNamespace(source="folder", root=images, task=None, options={"csv": csv})
    with pytest.raises(
        DataError, match=r"1 image\(s\) of the train split have no label in .*labels\.csv: b\. "
    ):
        load_dataset(SimpleNamespace(data=data, check_files=True))
    unknown = SimpleNamespace(source="ISIC2017", root=None, task=None, options={})
    with pytest.raises(ConfigError, match="unknown data source 'ISIC2017' \\(did you mean isic2017\\?\\)"):
        load_dataset(SimpleNamespace(data=unknown, check_files=True))


# --- describe ------------------------------------------------------------------------------------------


def test_describe_says_non_square_images_are_squashed(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,mole\nb,mel\nc,mel\n")
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(images / "b.png")
    ds = load_folder(images, csv)
    report = inspect_files(ds)
    assert report.problems == [] and report.non_square == [images / "b.png"]
    text = describe(ds, report=report)
    assert "they are squashed to a square (to keep their proportions, set train.resize to" in text
    assert "padded to a square" in describe(ds, report=report, resize="pad")
    assert "non-square images are squashed" in describe(ds, problems=[])


def test_cli_describe_positive_and_notes(tmp_path: Path) -> None:
    images, csv = _folder(tmp_path, "image_id,label\na,Melanoma\nb,no_melanoma\nc,melanoma\n")
    args = ["datasets", "describe", "folder", "--root", str(images), "--csv", str(csv)]
    guessed = runner.invoke(app, args, terminal_width=200)
    assert guessed.exit_code == 0, guessed.output
    assert (
        "positive class: Melanoma (guessed:" in guessed.output and "2 image(s) have no row" in guessed.output
    )
    chosen = runner.invoke(app, [*args, "--positive", "no_melanoma"], terminal_width=200)
    assert chosen.exit_code == 0 and "positive class: no_melanoma\n" in chosen.output
    bad = runner.invoke(app, [*args, "--resize", "stretch"])
    assert bad.exit_code != 0
