"""Build the embedded demo data: a small, seeded, class-enriched ISIC 2017 subset in the official layout.

ISIC 2017 is CC0, so a derived subset may ship inside the package. The layout (folder and CSV names) is kept,
so `load_isic2017(demo_root())` reads it unchanged. Melanoma and seborrheic keratosis are over-represented
relative to their natural rates so that every split has enough of each class for a meaningful AUC.

    python scripts/make_demo_subset.py [SOURCE] [--out DIR] [--seed 0]
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
DEFAULT_OUT = REPO / "src" / "lesionlab" / "demo_data" / "isic2017"
SPLIT_SIZES = {"train": 240, "val": 60, "test": 120}
# Share of each 3-class label (melanoma, seborrheic_keratosis, nevus) in every split.
CLASS_SHARES = (0.30, 0.25, 0.45)
MAX_BYTES = 10 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="ISIC 2017 root")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (rewritten)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=128, help="output side length in pixels")
    args = parser.parse_args(argv)

    source = load_isic2017(args.source, task="3class")
    rng = np.random.default_rng(args.seed)
    chosen = {split: _choose(source.split(split), n, rng) for split, n in SPLIT_SIZES.items()}

    _clean(args.out)
    for split, records in chosen.items():
        _write_split(args.source, args.out, split, records, args.size)
    _write_readme(args.out, args, chosen)

    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {sum(map(len, chosen.values()))} images to {args.out}: {total / 1e6:.2f} MB on disk")
    for task in TASKS:
        print(load_isic2017(args.out, task=task).summary())
    if total >= MAX_BYTES:
        print(f"error: demo data is {total} bytes, over the {MAX_BYTES}-byte limit", file=sys.stderr)
        return 1
    return 0


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


def _write_split(source: Path, out: Path, split: str, records: list[Record], size: int) -> None:
    stem = SPLIT_STEMS[split]
    image_dir = out / f"{stem}_Data"
    image_dir.mkdir()
    for r in records:
        with Image.open(r.image_path) as im:
            small = im.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        small.save(image_dir / f"{r.id}.jpg", quality=90, optimize=True)
    if any(r.mask_path is not None for r in records):
        mask_dir = out / f"{stem}_Part1_GroundTruth"
        mask_dir.mkdir()
        for r in records:
            if r.mask_path is None:
                continue
            with Image.open(r.mask_path) as m:
                small = m.convert("L").resize((size, size), Image.Resampling.NEAREST)
            small.save(mask_dir / r.mask_path.name, optimize=True)
    ids = {r.id for r in records}
    for name in (f"{stem}_Part3_GroundTruth.csv", f"{stem}_Data_metadata.csv"):
        if (source / name).is_file():
            _subset_csv(source / name, out / name, ids)


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


if __name__ == "__main__":
    sys.exit(main())
