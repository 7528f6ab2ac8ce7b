"""Build the embedded demo data: seeded ISIC 2017 subsets in the official layout.

ISIC 2017 is CC0, so derived subsets may ship inside the package. The layout (folder and CSV names) is kept,
so `load_isic2017(root)` reads them unchanged. Two profiles:

- `small` (demo_data/isic2017, `demo_root()`): 240/60/120 images with masks, melanoma and seborrheic
  keratosis over-represented so every split has enough of each class for a meaningful AUC; the melanoma
  demo preset, the tutorial and the tests read it.
- `pool` (demo_data/isic2017_pool): the `sk` demo preset's data. A random sample of the official training
  split at its natural class rates (the pool active learning draws from), and the whole official
  validation (150) and test (600) splits, images only: a pool much larger than the labels bought is where
  selection can matter (see lesionlab.demo_presets).
- `tune` (build/isic2017_pool_tune, never shipped): the copy the `sk` preset was tuned on (docs/demo.md).
  The same pool and validation images as `pool` (same seed), and as its "test" split the official
  training images that are not in the pool, so a setting is chosen without ever seeing the test split.

    python scripts/make_demo_subset.py [SOURCE] [--profile small|pool|tune] [--out DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.data.records import Record
from lesionlab.data.sources.isic2017 import SPLIT_STEMS, TASKS, load_isic2017

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO / ".." / "shared" / "data" / "isic2017"
DEMO_DATA = REPO / "src" / "lesionlab" / "demo_data"
DEFAULT_OUT = {
    "small": DEMO_DATA / "isic2017",
    "pool": DEMO_DATA / "isic2017_pool",
    "tune": REPO / "build" / "isic2017_pool_tune",
}
SPLIT_SIZES = {"train": 240, "val": 60, "test": 120}
# The `pool` profile: images drawn from each split at its natural rates; None = the whole split.
POOL_SIZES: dict[str, int | None] = {"train": 1000, "val": None, "test": None}
# Share of each 3-class label (melanoma, seborrheic_keratosis, nevus) in every split.
CLASS_SHARES = (0.30, 0.25, 0.45)
MAX_BYTES = {"small": 10 * 1024 * 1024, "pool": 12 * 1024 * 1024, "tune": 20 * 1024 * 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="ISIC 2017 root")
    parser.add_argument("--profile", choices=sorted(DEFAULT_OUT), default="small")
    parser.add_argument("--out", type=Path, default=None, help="output folder (rewritten)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=128, help="output side length in pixels")
    parser.add_argument("--pool", type=int, default=POOL_SIZES["train"], help="pool profile: train images")
    args = parser.parse_args(argv)
    args.out = args.out or DEFAULT_OUT[args.profile]

    source = load_isic2017(args.source, task="3class")
    rng = np.random.default_rng(args.seed)
    if args.profile == "small":
        chosen = {split: _choose(source.split(split), n, rng) for split, n in SPLIT_SIZES.items()}
    else:
        sizes = POOL_SIZES | {"train": args.pool}
        chosen = {split: _sample(source.split(split), n, rng) for split, n in sizes.items()}
    csv_from = {split: split for split in chosen}
    if args.profile == "tune":  # the same draw as `pool`; "test" = the training images left out of it
        pool = {r.id for r in chosen["train"]}
        chosen["test"] = [r for r in source.split("train") if r.id not in pool]
        csv_from["test"] = "train"

    _clean(args.out)
    for split, records in chosen.items():
        masks = args.profile == "small"
        _write_split(args.source, args.out, split, records, args.size, masks=masks, csv_from=csv_from[split])
    (_write_readme if args.profile == "small" else _write_pool_readme)(args.out, args, chosen)

    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {sum(map(len, chosen.values()))} images to {args.out}: {total / 1e6:.2f} MB on disk")
    for task in TASKS:
        print(load_isic2017(args.out, task=task).summary())
    limit = MAX_BYTES[args.profile]
    if total >= limit:
        print(f"error: demo data is {total} bytes, over the {limit}-byte limit", file=sys.stderr)
        return 1
    return 0


def _sample(records: list[Record], n: int | None, rng: np.random.Generator) -> list[Record]:
    """`n` records drawn at random without replacement (all when None), in source order."""
    if n is None:
        return list(records)
    if len(records) < n:
        raise SystemExit(f"only {len(records)} images in a split; need {n}")
    picked = set(rng.choice(sorted(r.id for r in records), size=n, replace=False).tolist())
    return [r for r in records if r.id in picked]


def _choose(records: list[Record], n: int, rng: np.random.Generator) -> list[Record]:
    """`n` records with CLASS_SHARES of each class, sampled without replacement, in source order."""
    counts = [round(n * s) for s in CLASS_SHARES[:-1]]
    counts.append(n - sum(counts))
    picked: set[str] = set()
    for label, count in enumerate(counts):
        ids = sorted(r.id for r in records if r.label == label)
        if len(ids) < count:
            raise SystemExit(f"only {len(ids)} images of class {label} in a split; need {count}")
        picked.update(rng.choice(ids, size=count, replace=False).tolist())
    return [r for r in records if r.id in picked]


def _clean(out: Path) -> None:
    """Remove only what this script writes, so a mistyped --out cannot wipe unrelated files."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in out.iterdir():
        if not (entry.name.startswith("ISIC-2017_") or entry.name == "README.md"):
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _write_split(
    source: Path,
    out: Path,
    split: str,
    records: list[Record],
    size: int,
    masks: bool = True,
    csv_from: str | None = None,
) -> None:
    """`records` as `split` of `out`; their CSV rows come from the source's `csv_from` split (default:
    the same split)."""
    stem = SPLIT_STEMS[split]
    source_stem = SPLIT_STEMS[csv_from or split]
    image_dir = out / f"{stem}_Data"
    image_dir.mkdir()
    for r in records:
        with Image.open(r.image_path) as im:
            small = im.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        small.save(image_dir / f"{r.id}.jpg", quality=90, optimize=True)
    if masks and any(r.mask_path is not None for r in records):
        mask_dir = out / f"{stem}_Part1_GroundTruth"
        mask_dir.mkdir()
        for r in records:
            if r.mask_path is None:
                continue
            with Image.open(r.mask_path) as m:
                small = m.convert("L").resize((size, size), Image.Resampling.NEAREST)
            small.save(mask_dir / r.mask_path.name, optimize=True)
    ids = {r.id for r in records}
    for suffix in ("_Part3_GroundTruth.csv", "_Data_metadata.csv"):
        if (source / f"{source_stem}{suffix}").is_file():
            _subset_csv(source / f"{source_stem}{suffix}", out / f"{stem}{suffix}", ids)


def _subset_csv(src: Path, dst: Path, ids: set[str]) -> None:
    """Copy the header and the rows of `ids` verbatim (first column is the image id)."""
    lines = src.read_text(encoding="utf-8").splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] in ids]
    dst.write_text("\n".join(kept) + "\n", encoding="utf-8")


def _write_readme(out: Path, args: argparse.Namespace, chosen: dict[str, list[Record]]) -> None:
    names = TASKS["3class"]
    rows = "\n".join(
        f"| {split} | {len(rs)} | "
        + " | ".join(str(sum(r.label == i for r in rs)) for i in range(len(names)))
        + f" | {sum(r.mask_path is not None for r in rs)} |"
        for split, rs in chosen.items()
    )
    text = f"""# ISIC 2017 demo subset

A small subset of the ISIC 2017 Challenge data (Parts 1 and 3) shipped with lesionlab so that demos,
tutorials and tests run offline. It keeps the official folder and CSV names, so
`lesionlab.data.sources.load_isic2017(lesionlab.data.demo_subset.demo_root(), task=...)` reads it unchanged
(tasks `melanoma`, `seborrheic_keratosis`, `3class`).

| split | images | melanoma | seborrheic keratosis | nevus | masks |
|---|---|---|---|---|---|
{rows}

Melanoma and seborrheic keratosis are over-represented (shares {CLASS_SHARES[0]:.0%} / {CLASS_SHARES[1]:.0%} /
{CLASS_SHARES[2]:.0%} in every split) so every split has all three classes and AUCs are meaningful; do not
read the class rates as clinical prevalence. It is far too small for results that mean anything clinically.

## Licence and citation

ISIC 2017 challenge data are released under CC0 (public domain). Please cite:

N. C. F. Codella et al., "Skin lesion analysis toward melanoma detection: A challenge at the 2017
International Symposium on Biomedical Imaging (ISBI), hosted by the International Skin Imaging
Collaboration (ISIC)", IEEE ISBI 2018, pp. 168-172.

## How it was made

`scripts/make_demo_subset.py` (seed {args.seed}) read a copy of ISIC 2017 whose images had been
squash-resized to 256x256, drew the images of each class per split at random without replacement,
resized images to {args.size}x{args.size} (Lanczos, JPEG quality 90) and the train/val masks to
{args.size}x{args.size} (nearest neighbour, PNG, values 0/255), and copied the matching rows of the
ground-truth and metadata CSVs verbatim. The test split has no masks, as in the source copy.
Caveat inherited from that copy: its test labels were rebuilt by row order over the sorted test ids
(the class totals match the official test set exactly).
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def _write_pool_readme(out: Path, args: argparse.Namespace, chosen: dict[str, list[Record]]) -> None:
    names = TASKS["3class"]
    rows = "\n".join(
        f"| {split} | {len(rs)} | "
        + " | ".join(str(sum(r.label == i for r in rs)) for i in range(len(names)))
        + " |"
        for split, rs in chosen.items()
    )
    text = f"""# ISIC 2017 demo pool

The data of `lesionlab demo` (preset `sk`, seborrheic keratosis vs rest): a random sample of
{len(chosen["train"])} images of the official ISIC 2017 training split (the pool active learning buys labels
from) and the whole official validation and test splits, at the classes' natural rates. Images only, no masks
(the small subset in `../isic2017` has masks, for segmentation). Read it with
`lesionlab.data.sources.load_isic2017(lesionlab.data.demo_subset.demo_root("isic2017_pool"), task=...)`.

| split | images | melanoma | seborrheic keratosis | nevus |
|---|---|---|---|---|
{rows}

## Licence and citation

ISIC 2017 challenge data are released under CC0 (public domain). Please cite:

N. C. F. Codella et al., "Skin lesion analysis toward melanoma detection: A challenge at the 2017
International Symposium on Biomedical Imaging (ISBI), hosted by the International Skin Imaging
Collaboration (ISIC)", IEEE ISBI 2018, pp. 168-172.

## How it was made

`scripts/make_demo_subset.py --profile pool` (seed {args.seed}) read a copy of ISIC 2017 whose images had
been squash-resized to 256x256, drew {len(chosen["train"])} training images at random without replacement,
kept every validation and test image, resized them to {args.size}x{args.size} (Lanczos, JPEG quality 90)
and copied the matching rows of the ground-truth and metadata CSVs verbatim. Caveat inherited from that
copy: its test labels were rebuilt by row order over the sorted test ids (the class totals match the
official test set exactly).
"""
    if args.profile == "tune":
        text = (
            "# NOT the demo data: the copy the `sk` preset was tuned on (docs/demo.md)\n\n"
            "Its test split is the official training images that are not in the pool (no test image).\n\n"
            + text
        )
    (out / "README.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
