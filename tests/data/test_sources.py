"""Loaders on tiny generated copies of the official layouts (never the real data under /work/shared)."""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from PIL import Image

from lesionlab.data.demo_subset import demo_root
from lesionlab.data.records import SPLITS
from lesionlab.data.sources import SOURCES, load_folder, load_ham10000, load_isic2017, load_source
from lesionlab.errors import ConfigError, DataError

HAM_CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]


def _jpeg_bytes(size: tuple[int, int] = (16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 80, 60)).save(buf, format="JPEG")
    return buf.getvalue()


JPEG = _jpeg_bytes()


def _image(path: Path, size: tuple[int, int] = (16, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg") and size == (16, 16):
        path.write_bytes(JPEG)
    else:
        Image.new("RGB" if "segmentation" not in path.name else "L", size, 200).save(path)


# --- ISIC 2017 -----------------------------------------------------------------------------------------

# split -> [(id, melanoma, seborrheic_keratosis)]
ISIC_ROWS = {
    "Training": [
        ("ISIC_0000001", 1, 0),
        ("ISIC_0000002", 0, 1),
        ("ISIC_0000003", 0, 0),
        ("ISIC_0000004", 0, 0),
    ],
    "Validation": [("ISIC_0000011", 1, 0), ("ISIC_0000012", 0, 1), ("ISIC_0000013", 0, 0)],
    "Test_v2": [("ISIC_0000021", 0, 0), ("ISIC_0000022", 1, 0), ("ISIC_0000023", 0, 1)],
}


def make_isic2017(root: Path, superpixels: bool = False) -> Path:
    for stem, rows in ISIC_ROWS.items():
        lines = ["image_id,melanoma,seborrheic_keratosis"]
        for image_id, mel, sk in rows:
            _image(root / f"ISIC-2017_{stem}_Data" / f"{image_id}.jpg")
            if superpixels:
                _image(root / f"ISIC-2017_{stem}_Data" / f"{image_id}_superpixels.png")
            if stem != "Test_v2":
                _image(root / f"ISIC-2017_{stem}_Part1_GroundTruth" / f"{image_id}_segmentation.png")
            lines.append(f"{image_id},{mel:.1f},{sk:.1f}")
        (root / f"ISIC-2017_{stem}_Part3_GroundTruth.csv").write_text("\n".join(lines) + "\n")
    return root


def test_isic2017_melanoma_records(tmp_path: Path) -> None:
    ds = load_isic2017(make_isic2017(tmp_path))
    assert ds.name == "isic2017" and ds.task == "melanoma"
    assert ds.classes == ["other", "melanoma"]
    assert [len(ds.split(s)) for s in SPLITS] == [4, 3, 3]
    by_id = {r.id: r for r in ds.records}
    assert by_id["ISIC_0000001"].label == 1 and by_id["ISIC_0000002"].label == 0
    assert by_id["ISIC_0000022"].split == "test" and by_id["ISIC_0000022"].label == 1
    for r in ds.records:
        assert r.image_path.is_file() and r.group == r.id
        if r.split == "test":
            assert r.mask_path is None
        else:
            assert (
                r.mask_path == r.image_path.parents[1] / r.mask_path.parent.name / f"{r.id}_segmentation.png"
            )
            assert r.mask_path.is_file() and "Part1_GroundTruth" in r.mask_path.parent.name


def test_isic2017_other_tasks(tmp_path: Path) -> None:
    root = make_isic2017(tmp_path)
    sk = load_isic2017(root, task="seborrheic_keratosis")
    assert sk.classes == ["other", "seborrheic_keratosis"]
    assert {r.id for r in sk.records if r.label == 1} == {"ISIC_0000002", "ISIC_0000012", "ISIC_0000023"}
    three = load_isic2017(root, task="3class")
    assert three.classes == ["melanoma", "seborrheic_keratosis", "nevus"]
    labels = {r.id: r.label for r in three.records}
    assert (labels["ISIC_0000001"], labels["ISIC_0000002"], labels["ISIC_0000003"]) == (0, 1, 2)


def test_isic2017_ignores_superpixels(tmp_path: Path) -> None:
    ds = load_isic2017(make_isic2017(tmp_path, superpixels=True))
    assert len(ds.records) == 10
    assert all(r.image_path.suffix == ".jpg" for r in ds.records)


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Data"),
        ("ISIC-2017_Validation_Part3_GroundTruth.csv", "ISIC-2017_Validation_Part3_GroundTruth.csv"),
        ("ISIC-2017_Training_Data/ISIC_0000003.jpg", "ISIC_0000003"),
    ],
)
def test_isic2017_missing_files(tmp_path: Path, remove: str, named: str) -> None:
    root = make_isic2017(tmp_path)
    target = root / remove
    if target.is_dir():
        for f in target.iterdir():
            f.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(DataError, match=re.escape(named)):
        load_isic2017(root)


def test_isic2017_bad_label_and_task(tmp_path: Path) -> None:
    root = make_isic2017(tmp_path)
    with pytest.raises(ConfigError, match="3class"):
        load_isic2017(root, task="nevus")
    csv = root / "ISIC-2017_Training_Part3_GroundTruth.csv"
    csv.write_text(csv.read_text().replace("ISIC_0000001,1.0,0.0", "ISIC_0000001,1.0,1.0"))
    with pytest.raises(DataError, match="line 2"):
        load_isic2017(root)


# --- HAM10000 ------------------------------------------------------------------------------------------


def make_ham10000(
    root: Path, lesions_per_class: int = 2, parts: bool = False, test: bool = True, images_per_lesion: int = 1
) -> Path:
    """Metadata + images; lesion k of a class has 1 + (k % images_per_lesion) images."""
    lines = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    n = 0
    for dx in HAM_CLASSES:
        for k in range(lesions_per_class):
            lesion = f"HAM_{dx}_{k}"
            for _ in range(1 + k % images_per_lesion):
                image_id = f"ISIC_{n:07d}"
                folder = f"HAM10000_images_part_{1 + n % 2}" if parts else "HAM10000_images"
                _image(root / folder / f"{image_id}.jpg")
                lines.append(f"{lesion},{image_id},{dx},histo,50.0,male,back")
                n += 1
    (root / "HAM10000_metadata.csv").write_text("\n".join(lines) + "\n")
    if test:
        cols = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
        rows = ["image," + ",".join(cols)]
        for j, col in enumerate(cols):
            image_id = f"ISIC_9{j:06d}"
            _image(root / "ISIC2018_Task3_Test_Images" / f"{image_id}.jpg")
            rows.append(image_id + "," + ",".join("1.0" if c == col else "0.0" for c in cols))
        (root / "ISIC2018_Task3_Test_GroundTruth.csv").write_text("\n".join(rows) + "\n")
    return root


def test_ham10000_records(tmp_path: Path) -> None:
    ds = load_ham10000(make_ham10000(tmp_path))
    assert ds.classes == HAM_CLASSES and ds.task == "7class"
    train, test = ds.split("train"), ds.split("test")
    assert len(train) == 14 and len(test) == 7 and not ds.split("val")
    assert all(r.group is not None and r.group.startswith("HAM_") for r in train)
    assert all(HAM_CLASSES[r.label].startswith(r.group.split("_")[1]) for r in train)
    test_labels = {r.id: ds.classes[r.label] for r in test}
    # Test columns are MEL,NV,BCC,AKIEC,BKL,DF,VASC: the j-th test image is the j-th column's class.
    assert [test_labels[f"ISIC_9{j:06d}"] for j in range(7)] == [
        "mel",
        "nv",
        "bcc",
        "akiec",
        "bkl",
        "df",
        "vasc",
    ]
    assert all(r.group == r.id and r.mask_path is None for r in test)


def test_ham10000_image_parts_and_no_test(tmp_path: Path) -> None:
    ds = load_ham10000(make_ham10000(tmp_path, parts=True, test=False))
    assert len(ds.records) == 14 and not ds.split("test")
    assert {r.image_path.parent.name for r in ds.records} == {
        "HAM10000_images_part_1",
        "HAM10000_images_part_2",
    }


def test_ham10000_errors(tmp_path: Path) -> None:
    root = make_ham10000(tmp_path)
    with pytest.raises(ConfigError):
        load_ham10000(root, val_fraction=1.0)
    with pytest.raises(ConfigError, match="7class"):
        load_ham10000(root, task="melanoma")
    (root / "ISIC2018_Task3_Test_GroundTruth.csv").unlink()
    with pytest.raises(DataError, match=re.escape("ISIC2018_Task3_Test_GroundTruth.csv")):
        load_ham10000(root)
    (root / "HAM10000_images" / "ISIC_0000000.jpg").unlink()
    with pytest.raises(DataError, match="ISIC_0000000"):
        load_ham10000(root)


def test_ham10000_val_split_is_group_aware_and_stratified(tmp_path: Path) -> None:
    root = make_ham10000(tmp_path, lesions_per_class=10, images_per_lesion=3, test=False)
    ds = load_ham10000(root, val_fraction=0.2, seed=3)
    sides: dict[str, set[str]] = defaultdict(set)
    for r in ds.records:
        sides[r.group].add(r.split)
    assert all(len(s) == 1 for s in sides.values()), "a lesion_id was split across train and val"
    val, total = ds.split("val"), len(ds.records)
    assert 0.12 <= len(val) / total <= 0.28
    val_counts, all_counts = Counter(r.label for r in val), Counter(r.label for r in ds.records)
    for label in range(len(HAM_CLASSES)):
        assert 0.05 <= val_counts[label] / all_counts[label] <= 0.4, HAM_CLASSES[label]
    again = load_ham10000(root, val_fraction=0.2, seed=3)
    assert [r.split for r in again.records] == [r.split for r in ds.records]
    assert len(load_ham10000(root).split("val")) == 0


# --- folder --------------------------------------------------------------------------------------------


def make_folder(tmp_path: Path, csv_text: str) -> tuple[Path, Path]:
    images = tmp_path / "images"
    for name in ("a.jpg", "b.png", "c.JPG", "d.jpeg", "e.tif"):
        _image(images / name)
    csv = tmp_path / "labels.csv"
    csv.write_text(csv_text)
    return images, csv


def test_folder_records(tmp_path: Path) -> None:
    images, csv = make_folder(
        tmp_path,
        "image_id,label,split,group\na,mole,train,p1\nb.png,melanoma,val,p3\nc,mole,,p1\nd,,test,\ne,melanoma,TEST,p2\n",
    )
    masks = tmp_path / "masks"
    _image(masks / "a_segmentation.png")
    _image(masks / "b_segmentation.png")
    ds = load_folder(images, csv, masks=masks, task="mine")
    assert ds.classes == ["melanoma", "mole"] and ds.task == "mine"
    by_id = {r.id: r for r in ds.records}
    assert by_id["a"].image_path == images / "a.jpg" and by_id["c"].image_path == images / "c.JPG"
    assert by_id["b.png"].image_path == images / "b.png"
    assert [by_id[i].label for i in "acde"] == [1, 1, None, 0]
    assert [by_id[i].split for i in "acde"] == ["train", "train", "test", "test"]
    assert by_id["a"].group == "p1" and by_id["d"].group == "d"
    assert by_id["a"].mask_path == masks / "a_segmentation.png"
    assert by_id["b.png"].mask_path == masks / "b_segmentation.png"
    assert by_id["c"].mask_path is None
    assert ds.class_counts()["(unlabelled)"] == 1


def test_folder_given_classes_and_mask_pattern(tmp_path: Path) -> None:
    images, csv = make_folder(tmp_path, "image_id,label\na,mole\nb,\n")
    masks = tmp_path / "masks"
    _image(masks / "mask_a.png")
    ds = load_folder(images, csv, masks=masks, mask_pattern="mask_{id}.png", classes=["mole", "melanoma"])
    assert ds.classes == ["mole", "melanoma"]
    assert [r.label for r in ds.records] == [0, None]
    assert ds.records[0].mask_path == masks / "mask_a.png"
    with pytest.raises(DataError, match="no masks found"):
        load_folder(images, csv, masks=masks, mask_pattern="{id}_mask.png", classes=["mole"])


@pytest.mark.parametrize(
    ("csv_text", "classes", "patterns"),
    [
        ("image,label\na,mole\n", None, ["labels.csv", "image_id", "found columns: image, label"]),
        ("image_id,label\na,mole\nb,nevus\n", ["mole", "melanoma"], ["line 3", "'nevus'", "mole, melanoma"]),
        ("image_id,label\na,mole\nzzz,mole\n", None, ["zzz", "line 3", "images"]),
        ("image_id,label,split\na,mole,holdout\n", None, ["line 2", "'holdout'", "train, val, test"]),
        ("image_id,label\na,mole\na,mole\n", None, ["'a'", "line 2"]),
        ("image_id,label\na,\n", None, ["no labels", "classes"]),
        ("image_id;label\na;mole\n", None, ["comma"]),
    ],
)
def test_folder_csv_errors(
    tmp_path: Path, csv_text: str, classes: list[str] | None, patterns: list[str]
) -> None:
    images, csv = make_folder(tmp_path, csv_text)
    with pytest.raises(DataError) as info:
        load_folder(images, csv, classes=classes)
    for pattern in patterns:
        assert pattern in str(info.value)


def test_folder_missing_paths_and_ambiguous_id(tmp_path: Path) -> None:
    images, csv = make_folder(tmp_path, "image_id,label\na,mole\n")
    with pytest.raises(DataError, match=re.escape("nope.csv")):
        load_folder(images, tmp_path / "nope.csv")
    with pytest.raises(DataError, match="nowhere"):
        load_folder(tmp_path / "nowhere", csv)
    _image(images / "a.png")
    with pytest.raises(DataError, match="several files"):
        load_folder(images, csv)


# --- load_source ---------------------------------------------------------------------------------------


def test_load_source_dispatch_and_errors(tmp_path: Path) -> None:
    assert set(SOURCES) == {"isic2017", "ham10000", "folder"}
    assert SOURCES["isic2017"] == ("melanoma", "seborrheic_keratosis", "3class")
    root = make_isic2017(tmp_path / "isic")
    assert load_source("isic2017", root).task == "melanoma"
    assert load_source("isic2017", root, "3class").num_classes == 3
    ham = load_source("ham10000", make_ham10000(tmp_path / "ham", lesions_per_class=4), val_fraction=0.25)
    assert ham.split("val")
    images, csv = make_folder(tmp_path, "image_id,label\na,mole\n")
    ds = load_source("folder", images, task="moles", csv=str(csv))
    assert ds.task == "moles" and len(ds.records) == 1
    with pytest.raises(ConfigError, match="isic2017, ham10000, folder"):
        load_source("ph2", root)
    with pytest.raises(ConfigError, match="melanoma, seborrheic_keratosis, 3class"):
        load_source("isic2017", root, "7class")
    with pytest.raises(ConfigError, match="val_fraction"):
        load_source("isic2017", root, val_fraction=0.1)
    with pytest.raises(ConfigError, match=r"--csv on the command line, data\.options\.csv in a config"):
        load_source("folder", images)


# --- embedded demo data --------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["melanoma", "seborrheic_keratosis", "3class"])
def test_demo_data_has_every_class_in_every_split(task: str) -> None:
    ds = load_isic2017(demo_root(), task=task)
    assert [len(ds.split(s)) for s in SPLITS] == [240, 60, 120]
    for split in SPLITS:
        counts = ds.class_counts(ds.split(split))
        assert all(counts[c] > 0 for c in ds.classes), (split, counts)
    assert all(r.mask_path is not None for r in ds.split("train", "val"))
    assert (demo_root() / "README.md").is_file()
