"""Scale: pool scoring throughput (torch vs ONNX Runtime), one active-learning round at 10,000 and 100,000
images (time and peak memory of each part), and experiments run serially and as Ray tasks.

Parts (`--parts`, default all, in this order; each measured unit runs in a fresh process so its peak
resident memory is its own, and finished units are kept in `results/<name>.partial.json`, so a rerun
measures only what is missing):

- `synth`: the synthetic pools, written once to `--pool-dir` (not committed): small 224 px JPEGs, each an
  augmented copy (crop 70-100 %, quarter turn, mirror, brightness/contrast/colour x0.8-1.2, seeded by its
  index) of an ISIC 2017 or HAM10000 image, labelled melanoma or not by its source. The 10,000 pool is the
  first 10,000 images of the 100,000 one. About 10 ms per image: 17 min for 100,000 on one core.
- `scoring`: images/s and peak memory of `lesionlab.scoring.score_images` at 224 px including decoding
  (gray-world, squash) with `--threads` compute threads and `--decode-workers` decoding threads, into
  memory-mapped arrays, for torch and for ONNX Runtime (the export checked against torch on 32 real
  images first), on the first `--scoring-n` images (default 10,000) of the pool, or of the real ISIC 2017
  training images with `--scoring-source real`.
- `round`: at each of `--sizes`: train on 1,000 labelled images (fast path, frozen stages 0-4, one view,
  5 epochs), score the other N - 1,000 with ONNX Runtime into memory maps, select 1,000 by least
  confidence and by k-center (`coreset`); seconds of each part and the peak resident memory of the round.
- `ray`: `lesionlab demo` (2 seeds) and a real-data experiment (ISIC 2017 melanoma, 2,000-image pool,
  +200 x 2 rounds, random and least confidence, 1 seed) run serially and with `--engine ray` (2 tasks of
  1 thread) in the same invocation, after the activation caches are filled for both: the wall-time ratio
  and whether results and states are identical (up to timings).

    python benchmarks/scale.py --threads 2                     # everything (estimates: docs/scaling.md)
    python benchmarks/scale.py --parts scoring --scoring-source real --scoring-n 500 --threads 1 \\
        --name scale_check                                     # ~2 min: the quick check
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from common import RESULTS, base_parser, load_partial, save_partial
from scale_engines import measure_engines, real_config
from scale_report import package_versions, write_results

RESOLUTION = 224
N_LABELED = 1_000
BUDGET = 1_000
SIZES = (10_000, 100_000)


# --------------------------------------------------------------------------- measuring
class PeakRss:
    """Peak resident memory of this process while a block runs (sampled every 20 ms from /proc)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def __enter__(self) -> PeakRss:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mb(self) -> float:
        return self.peak / 2**20


def in_fresh_process(fn: Callable[..., dict], *args: Any) -> dict:
    """`fn(*args)` in a new process (so its peak memory is its own), with that process's peak RSS."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn: Callable[..., dict], *args: Any) -> dict:
    row = fn(*args)
    row["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["package_versions"] = package_versions()  # what measured this unit (a later summary may differ)
    return row


# --------------------------------------------------------------------------- synthetic pool
def _sources(data: Path) -> list[tuple[Path, int]]:
    """Every ISIC 2017 and HAM10000 image with its melanoma label (1) or not (0)."""
    from lesionlab.data.sources import load_source

    out = []
    isic = load_source("isic2017", data / "isic2017", task="melanoma")
    out += [(Path(r.image_path), int(r.label)) for r in isic.records if r.label is not None]
    ham = load_source("ham10000", data / "ham10000")
    mel = ham.classes.index("mel")
    out += [(Path(r.image_path), int(r.label == mel)) for r in ham.records if r.label is not None]
    return out


def synth_path(pool_dir: Path, i: int) -> Path:
    return pool_dir / f"{i // 1000:03d}" / f"syn{i:07d}.jpg"


def _write_synthetic(args: tuple[list[tuple[str, int]], str, int, int]) -> list[tuple[str, int]]:
    from PIL import Image, ImageEnhance, ImageOps

    sources, pool_dir, start, stop = args
    rows = []
    for i in range(start, stop):
        src, label = sources[i % len(sources)]
        path = synth_path(Path(pool_dir), i)
        rows.append((str(path), label))
        if path.is_file():
            continue
        rng = np.random.default_rng([i, 2026])
        im = Image.open(src).convert("RGB")
        w, h = im.size
        f = rng.uniform(0.7, 1.0)
        cw, ch = int(w * f), int(h * f)
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        im = im.crop((x0, y0, x0 + cw, y0 + ch)).resize((RESOLUTION, RESOLUTION), Image.Resampling.BILINEAR)
        im = im.rotate(90 * int(rng.integers(0, 4)))
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            im = enhance(im).enhance(rng.uniform(0.8, 1.2))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        im.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, path)
    return rows


def synth(data: Path, pool_dir: Path, n: int, workers: int) -> Path:
    """Write the pool (skipping images already there) and its labels CSV; returns the CSV."""
    sources = [(str(p), y) for p, y in _sources(data)]
    chunks = [(sources, str(pool_dir), s, min(s + 2000, n)) for s in range(0, n, 2000)]
    rows: list[tuple[str, int]] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        for part in pool.map(_write_synthetic, chunks):
            rows += part
            print(f"synth: {len(rows)}/{n} images, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    labels = pool_dir / f"labels_{n}.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "melanoma"])
        writer.writerows(rows)
    return labels


def pool_rows(pool_dir: Path, n: int) -> list[tuple[Path, int]]:
    for size in sorted({n, *SIZES}):
        labels = pool_dir / f"labels_{size}.csv"
        if size >= n and labels.is_file():
            with open(labels, newline="") as fh:
                rows = [(Path(r["path"]), int(r["melanoma"])) for r in csv.DictReader(fh)]
            return rows[:n]
    raise SystemExit(f"no synthetic pool of {n} images in {pool_dir}: run --parts synth first")


# --------------------------------------------------------------------------- scoring
def _model(num_classes: int = 2):
    from lesionlab.models.registry import create_classifier

    return create_classifier("efficientnet_lite0", num_classes, "imagenet", seed=0).eval()


def measure_scoring(
    backend: str, paths: list[str], threads: int, decode_workers: int, check: list[str]
) -> dict:
    import torch

    from lesionlab.data.preprocess import load_image
    from lesionlab.scoring import OnnxScorer, TorchScorer, score_images
    from lesionlab.scoring.onnx_export import export_onnx
    from lesionlab.scoring.pool import SCORING_BATCH
    from lesionlab.selection.memmap import EvidenceStore

    torch.set_num_threads(threads)
    model = _model()
    work = Path(tempfile.mkdtemp(prefix="lesionlab-scale-"))
    row: dict[str, Any] = {"backend": backend, "n": len(paths), "threads": threads}
    row["decode_workers"] = decode_workers
    try:
        if backend == "onnxruntime":
            images = np.stack([load_image(Path(p), RESOLUTION, "gray_world") for p in check])
            t0 = time.perf_counter()
            row["onnx_check"] = export_onnx(model, work / "model.onnx", RESOLUTION, check_images=images)
            row["export_seconds"] = time.perf_counter() - t0
            scorer = OnnxScorer(work / "model.onnx", threads)
        else:
            scorer = TorchScorer(model, "cpu", threads)
        with PeakRss() as rss:
            result = score_images(
                paths,
                scorer,
                RESOLUTION,
                "gray_world",
                "squash",
                SCORING_BATCH,
                decode_workers,
                EvidenceStore(work / "scores"),
                show_progress=False,
            )
        row.update(images_per_second=result.images_per_second, seconds=result.seconds, peak_rss_mb=rss.mb)
        row["failed"] = len(result.failed)
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- one round
def score_with_onnx(trainer: Any, config: Any, records: list, work: Path, threads: int, decode_workers: int):
    """The round's scoring step: the trained model exported to ONNX, every unlabelled image scored."""
    from lesionlab.scoring import OnnxScorer, score_images
    from lesionlab.scoring.onnx_export import export_onnx
    from lesionlab.scoring.pool import SCORING_BATCH
    from lesionlab.selection.memmap import EvidenceStore

    export_onnx(trainer.model, work / "model.onnx", RESOLUTION, reuse=False)
    scorer = OnnxScorer(work / "model.onnx", threads)
    return score_images(
        [r.image_path for r in records],
        scorer,
        RESOLUTION,
        config.preprocessing,
        config.resize,
        SCORING_BATCH,
        decode_workers,
        EvidenceStore(work / "scores"),
        show_progress=False,
    )


def measure_round(pool: list[tuple[str, int]], threads: int, decode_workers: int, cache_dir: str) -> dict:
    import torch

    from lesionlab.config import TrainConfig
    from lesionlab.data.records import Record
    from lesionlab.selection.base import Evidence, get_strategy
    from lesionlab.training.trainer import Trainer

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    labeled_rows = set(rng.choice(len(pool), N_LABELED, replace=False).tolist())
    records = [Record(f"s{i}", Path(p), y) for i, (p, y) in enumerate(pool)]
    labeled = [r for i, r in enumerate(records) if i in labeled_rows]
    unlabeled = [r for i, r in enumerate(records) if i not in labeled_rows]
    seconds: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="lesionlab-round-"))
    try:
        with PeakRss() as rss:
            t0 = time.perf_counter()
            config = TrainConfig(
                resolution=RESOLUTION, freeze_stages=5, views=1, epochs=5, num_threads=threads, progress=False
            )
            trainer = Trainer(_model(), config, cache_dir=Path(cache_dir))
            trainer.fit(labeled)
            seconds["train"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            scores = score_with_onnx(trainer, config, unlabeled, work, threads, decode_workers)
            seconds["score"] = time.perf_counter() - t0

            ids = np.array([r.id for r in unlabeled])
            t0 = time.perf_counter()
            lc = get_strategy("least_confidence").select(Evidence(ids, probs=scores.probs), BUDGET, rng)
            seconds["select_least_confidence"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            labeled_emb = trainer.embed(labeled)
            evidence = Evidence(ids, embeddings=scores.embeddings, labeled_embeddings=labeled_emb)
            kc = get_strategy("coreset").select(evidence, BUDGET, rng)
            seconds["select_kcenter"] = time.perf_counter() - t0
        return {
            "n": len(pool),
            "seconds": seconds,
            "peak_rss_mb": rss.mb,
            "scoring_images_per_second": scores.images_per_second,
            "picked": {"least_confidence": len(lc.ids), "kcenter": len(kc.ids)},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- driver
def scoring_part(args: Any, pool_dir: Path, done: dict, partial_path: Path) -> dict:
    """Pool scoring with torch and with ONNX Runtime, each in a fresh process; returns the stored units."""
    if args.scoring_source == "real":
        isic = _sources(args.data)[:2000]
        paths = [str(p) for p, _ in isic][: args.scoring_n]
    else:
        paths = [str(p) for p, _ in pool_rows(pool_dir, args.scoring_n)]
    check = [str(p) for p, _ in _sources(args.data)[:32]]
    for backend in ("torch", "onnxruntime"):
        key = f"scoring/{backend}/{args.scoring_source}/{len(paths)}/t{args.threads}/d{args.decode_workers}"
        if key not in done:
            row = in_fresh_process(measure_scoring, backend, paths, args.threads, args.decode_workers, check)
            row["source"] = args.scoring_source
            done = save_partial(partial_path, key, row)
        print(f"{key}: {done[key]['images_per_second']:.1f} images/s", file=sys.stderr)
    return done


def round_part(args: Any, pool_dir: Path, done: dict, partial_path: Path) -> dict:
    """One active-learning round at each pool size, each in a fresh process; returns the stored units."""
    for n in args.sizes:
        key = f"round/{n}/t{args.threads}"
        if key not in done:
            rows = [(str(p), y) for p, y in pool_rows(pool_dir, n)]
            row = in_fresh_process(
                measure_round, rows, args.threads, args.decode_workers, str(args.cache_dir)
            )
            done = save_partial(partial_path, key, row)
        print(f"{key}: {done[key]['seconds']}", file=sys.stderr)
    return done


def ray_part(args: Any, done: dict, partial_path: Path) -> dict:
    """The demo and a real-data experiment, serially and on Ray, each in a fresh process."""
    from lesionlab.runner.demo import demo_config

    work = args.cache_dir / "benchmarks" / "scale_engines"
    experiments = {
        "demo": demo_config(work / "demo", 2, name="melanoma").model_copy(
            update={"cache_dir": args.cache_dir}
        ),
        "isic2017_melanoma": real_config(args.data, work / "isic2017", args.cache_dir, RESOLUTION),
    }
    for label, config in experiments.items():
        key = f"ray/{label}"
        if key not in done:
            row = in_fresh_process(measure_engines, config.model_dump(mode="json"), label)
            done = save_partial(partial_path, key, row)
        print(f"{key}: {done[key]}", file=sys.stderr)
    return done


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--parts", nargs="+", default=["synth", "scoring", "round", "ray"])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--pool-dir", type=Path, default=None, help="default: CACHE/benchmarks/scale_pool")
    parser.add_argument("--scoring-n", type=int, default=10_000)
    parser.add_argument("--scoring-source", choices=["synthetic", "real"], default="synthetic")
    parser.add_argument("--decode-workers", type=int, default=1)
    parser.add_argument("--synth-workers", type=int, default=2)
    parser.add_argument("--name", default="scale", help="results/<name>.json (and .md, .partial.json)")
    parser.add_argument("--summarize", action="store_true", help="only rewrite the outputs from stored units")
    args = parser.parse_args()
    if args.summarize:
        args.parts = []
    pool_dir = args.pool_dir or args.cache_dir / "benchmarks" / "scale_pool"
    partial_path = RESULTS / f"{args.name}.partial.json"
    done = load_partial(partial_path)
    t_start = time.perf_counter()

    if "synth" in args.parts:
        synth(args.data, pool_dir, max(args.sizes), args.synth_workers)

    if "scoring" in args.parts:
        done = scoring_part(args, pool_dir, done, partial_path)
    if "round" in args.parts:
        done = round_part(args, pool_dir, done, partial_path)
    if "ray" in args.parts:
        done = ray_part(args, done, partial_path)

    if args.summarize:  # the tables again from the stored units, keeping the measuring run's wall time
        args.parts = sorted({key.split("/")[0] for key in done})  # what was measured, not this call's []
        previous = RESULTS / f"{args.name}.json"
        wall = json.loads(previous.read_text()).get("wall_seconds") if previous.exists() else None
        write_results(args, done, wall)
    elif set(args.parts) != {"synth"}:  # writing the pool alone measures nothing
        write_results(args, done, time.perf_counter() - t_start)


if __name__ == "__main__":
    main()
