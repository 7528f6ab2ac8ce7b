"""CPU feasibility for Zhao et al. 2022, "Self-supervised Assisted Active Learning for Skin Lesion
Segmentation" (EMBC 2022): seconds per image of one training step and one inference pass of each
segmentation model on real ISIC 2017 images (docs/reproduction.md, the Zhao et al. 2022 section, first table).

    OMP_NUM_THREADS=1 python benchmarks/paper001_timing.py --threads 1

16 training images with their masks, grayscale + min-max, batch 8, Adam, CE + Dice; each model trains three
passes over them and the fastest of the last two counts. The frozen Lite0 row trains the decoder alone on
the encoder's maps computed once (the CPU fast path).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from common import RESULTS, base_parser
from lesionlab.data.preprocess import load_image, load_mask
from lesionlab.models.unet import Lite0UNet, UNet
from lesionlab.training.losses import ce_dice
from provenance import write_outputs


def batch(root: Path, size: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    files = sorted((root / "ISIC-2017_Training_Data").glob("*.jpg"))[:n]
    masks = root / "ISIC-2017_Training_Part1_GroundTruth"
    x = np.stack([load_image(f, size, "grayscale_minmax") for f in files])
    y = np.stack([load_mask(masks / f"{f.stem}_segmentation.png", size) for f in files])
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255, torch.from_numpy(y).float()


def train_seconds(model, x, y, frozen: bool = False, bs: int = 8, passes: int = 3) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, 1e-4)
    feats = None
    if frozen:
        model.eval()
        with torch.no_grad():
            feats = model.encode(x)
    model.train()
    times = []
    for _ in range(passes):
        t = time.perf_counter()
        for i in range(0, len(x), bs):
            logits = model.decode([f[i : i + bs] for f in feats]) if frozen else model(x[i : i + bs])
            loss = ce_dice(logits, y[i : i + bs]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    return min(times[1:]) / len(x)


@torch.no_grad()
def infer_seconds(model, x) -> float:
    model.eval()
    t = time.perf_counter()
    model(x)
    return (time.perf_counter() - t) / len(x)


def main() -> None:
    args = base_parser(__doc__).parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for size in (256, 128):
        x, y = batch(Path(args.data) / "isic2017", size)
        for width in (64, 32, 16):
            m = UNet(width)
            rows.append(
                {
                    "model": f"unet width {width}",
                    "px": size,
                    "train": train_seconds(m, x, y),
                    "infer": infer_seconds(m, x),
                }
            )
        m = Lite0UNet("imagenet")
        rows.append(
            {
                "model": "unet_lite0 full",
                "px": size,
                "train": train_seconds(m, x, y),
                "infer": infer_seconds(m, x),
            }
        )
        for p in m.encoder.parameters():
            p.requires_grad_(False)
        rows.append(
            {
                "model": "unet_lite0 frozen encoder",
                "px": size,
                "train": train_seconds(m, x, y, frozen=True),
                "infer": None,
            }
        )
        print(rows[-5:], flush=True)
    md = ["| model | px | train s/img | inference s/img |", "|---|---|---|---|"]
    for r in rows:
        infer = "-" if r["infer"] is None else f"{r['infer']:.3f}"
        md.append(f"| {r['model']} | {r['px']} | {r['train']:.3f} | {infer} |")
    write_outputs(
        RESULTS / "paper001_timing.json",
        {
            "rows": rows,
            "threads": args.threads,
            "load": list(os.getloadavg()),
            "config": {"sizes": [256, 128], "images": 16, "batch": 8, "threads": args.threads},
            "seeds": None,  # unseeded initial weights: a timing, not a result that depends on them
        },
        md,
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()
