"""Greedy k-center at scale: lesionlab's k-center against scikit-activeml's CoreSet on the same data.

N = 100,000 rows of d = 1,280 float32 features, 1,000 of them already labelled, budget 1,000, on
(a) random Gaussian data and (b) real embeddings: pooled EfficientNet-Lite0 (ImageNet) embeddings of fixed
augmented views of every HAM10000 + ISIC 2018 test and ISIC 2017 image (10,246 images, 10 views each, the
first 100,000 rows). At 224 px that would take about 70 min on one thread (23 images/s measured on a
128-image sample), over the ~40 min allowed, so the views are embedded at 128 px: 93 images/s on an idle
core, 55 min in all on a machine shared with other jobs (one thread). The matrix is cached under
`CACHE/benchmarks/kcenter_speed/` and reruns skip it.

Reported per data set: wall time of each method and the speed-up over scikit-activeml, the peak memory each
adds while it runs (resident-set peak over the worker's baseline, sampled every 5 ms; tracemalloc's peak
of Python/NumPy allocations beside it) over the size of the feature matrix, agreement of the picks with
lesionlab's exact loop, and the covering radius (max over the pool of the distance to the nearest labelled
or picked row). Methods: `skactiveml` (CoreSet, scikit-activeml 1.0.1), `exact` (lesionlab's plain running
minimum, `prune=False`), `auto` (the default; when these blocks were measured it was the PCA-bound
pruning, dropped on Gaussian data; it is now lazy updates), and two approximate modes judged by their
radius: `float16` (half-size storage) and `pca128` (the loop on 128 principal components). Each measured
unit runs in a fresh process; finished units are kept in `results/kcenter_speed.partial.json` (local,
ignored by git), so a rerun measures only what is missing.

The current figures are those of `--sizes` (`kcenter_sizes.py`: today's `auto` against the plain loop and
scikit-activeml at every N from 10,000 to 1,000,000); the 100,000-row blocks are kept as measured.

    python benchmarks/kcenter_speed.py --threads 1 --rows 30000 --sizes   # every N, ~24 min
    python benchmarks/kcenter_speed.py --threads 1            # about 20 min once the embeddings exist
    python benchmarks/kcenter_speed.py --threads 1 --prepare  # only compute and cache the embeddings
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from typing import Any

import numpy as np
import torch

from common import RESULTS, base_parser, load_partial, save_partial
from kcenter_embeddings import DIM, real_embeddings
from kcenter_report import BUDGET, HEADLINE, N_LABELED, markdown
from kcenter_sizes import SIZES, sweep, sweep_worker
from provenance import write_outputs

N_ROWS = 100_000


# --------------------------------------------------------------------------- measured runs
METHODS = {
    # name: k_center_greedy options (None: scikit-activeml's CoreSet)
    "skactiveml": None,
    "exact": {"prune": False},
    "auto": {"prune": "auto"},  # lesionlab's default (lazy updates today; the PCA bound when measured)
    "float16": {"prune": "auto", "precision": "float16"},
    "pca128": {"prune": "auto", "dims": 128},
}
# On Gaussian data `auto` finds that clustering cannot prune and runs the plain loop (one cluster), so
# `exact` would repeat it; the approximate float16 mode only pays where the loop is bandwidth-bound.
PLAN = {
    "gaussian": ["skactiveml", "auto", "pca128"],
    "embeddings": ["skactiveml", "exact", "auto", "float16", "pca128"],
}
PARTIAL = RESULTS / "kcenter_speed.partial.json"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident set size while a block runs, sampled every 5 ms from /proc/self/statm."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def added(self) -> int:
        return self.peak - self.base


def features(dataset: str, args) -> np.ndarray:
    """The (N, 1280) float32 matrix, rows shuffled once (seed 0): the first 1,000 are the labelled set."""
    folder = args.cache_dir / "benchmarks" / "kcenter_speed"
    if dataset == "gaussian":
        path = folder / f"gaussian_{args.rows}.npy"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            data = np.random.default_rng(0).standard_normal((args.rows, DIM), dtype=np.float32)
            np.save(path.with_suffix(".tmp.npy"), data)
            path.with_suffix(".tmp.npy").rename(path)
        data = np.load(path)
    else:
        data, _ = real_embeddings(args.data, args.cache_dir, args.rows, args.threads)
    shuffled = data[np.random.default_rng(0).permutation(len(data))]
    del data
    return shuffled


def worker(args) -> None:
    """One measured run in a fresh process (so memory baselines are clean); prints one JSON line."""
    from lesionlab.selection.kcenter import covering_radius, k_center_greedy

    data = features(args.dataset, args)
    labeled, pool = data[:N_LABELED], data[N_LABELED:]
    options = METHODS[args.method]
    # Warm the libraries up (BLAS buffers, torch kernels) so the baseline excludes one-off initialisation.
    from sklearn.metrics import pairwise_distances_argmin_min

    pairwise_distances_argmin_min(pool[:64], labeled[:8])
    k_center_greedy(pool[:300].copy(), 3, labeled[:5].copy(), prune=True)
    gc.collect()
    tracemalloc.start()
    with PeakRSS() as mem:
        start = time.perf_counter()
        if options is None:
            from skactiveml.pool import CoreSet

            y = np.full(len(data), np.nan)
            y[:N_LABELED] = 0
            picks = CoreSet(random_state=0).query(data, y, batch_size=BUDGET) - N_LABELED
            stats: dict = {}
        else:
            result = k_center_greedy(pool, BUDGET, labeled, **options)
            picks, stats = result.indices, result.stats
        seconds = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    radius = covering_radius(pool, np.concatenate([labeled, pool[picks]]))
    print(
        "RESULT "
        + json.dumps(
            {
                "seconds": seconds,
                "peak_rss_added_bytes": mem.added,
                "tracemalloc_peak_bytes": traced_peak,
                "features_bytes": data.nbytes,
                "radius": radius,
                "picks": [int(i) for i in picks],
                "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
            }
        )
    )


def run_unit(dataset: str, method: str, args) -> dict:
    env = {
        **os.environ,
        **{v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }
    cmd = [sys.executable, __file__, "--worker", "--dataset", dataset, "--method", method]
    cmd += ["--threads", str(args.threads), "--rows", str(args.rows), "--cache-dir", str(args.cache_dir)]
    cmd += ["--data", str(args.data)]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    row = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    row["unit_wall_seconds"] = time.perf_counter() - start
    print(
        f"{dataset:10s} {method:13s} {row['seconds']:8.1f} s  "
        f"peak +{row['peak_rss_added_bytes'] / 2**20:7.0f} MiB  radius {row['radius']:.4f}",
        flush=True,
    )
    return row


def first_divergence(dataset: str, units: dict[str, dict], args) -> dict | None:
    """Where scikit-activeml's picks first differ from lesionlab's exact ones, which of the two rows was
    truly farther (float64 differences to the labelled rows and the common earlier picks), and by how much."""
    exact = units.get("exact", units[HEADLINE])["picks"]
    other = units["skactiveml"]["picks"]
    step = next((k for k, (a, b) in enumerate(zip(exact, other, strict=True)) if a != b), None)
    if step is None:
        return None
    data = features(dataset, args)
    centres = np.concatenate([data[:N_LABELED], data[N_LABELED:][exact[:step]]]).astype(np.float64)
    dist = {}
    for name, row in (("lesionlab", exact[step]), ("skactiveml", other[step])):
        diff = centres - data[N_LABELED + row].astype(np.float64)
        dist[name] = float(np.sqrt(np.einsum("ij,ij->i", diff, diff).min()))
    return {
        "step": step,
        "lesionlab_pick": exact[step],
        "skactiveml_pick": other[step],
        "float64_min_distance": dist,
        "relative_gap": abs(dist["lesionlab"] - dist["skactiveml"]) / max(dist.values()),
        "float64_farther": max(dist, key=dist.get),
    }


def summarize(units: dict[str, dict]) -> dict:
    exact = units.get("exact", units[HEADLINE])
    out: dict[str, Any] = {"methods": {}}
    for name, row in units.items():
        same = row["picks"] == exact["picks"]
        pairs = enumerate(zip(row["picks"], exact["picks"], strict=True))
        first_diff = next((k for k, (a, b) in pairs if a != b), None)
        out["methods"][name] = {
            "seconds": round(row["seconds"], 2),
            "peak_rss_added_mib": round(row["peak_rss_added_bytes"] / 2**20, 1),
            "peak_memory_over_features": round(row["peak_rss_added_bytes"] / row["features_bytes"], 3),
            "tracemalloc_peak_over_features": round(row["tracemalloc_peak_bytes"] / row["features_bytes"], 3),
            "radius": row["radius"],
            "radius_over_exact": row["radius"] / exact["radius"],
            "same_picks_as_exact": same,
            "first_differing_pick": first_diff,
            "overlap_with_exact": len(set(row["picks"]) & set(exact["picks"])) / len(exact["picks"]),
            "stats": row["stats"],
        }
    head, sk = units[HEADLINE], units["skactiveml"]
    out.update(
        {
            "speedup_vs_skactiveml": sk["seconds"] / head["seconds"],
            "peak_memory_over_features": head["peak_rss_added_bytes"] / head["features_bytes"],
            "same_picks": head["picks"] == sk["picks"] == exact["picks"],
            "radius_over_exact": head["radius"] / exact["radius"],
            "headline_method": HEADLINE,
        }
    )
    return out


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--prepare", action="store_true", help="only compute and cache the real embeddings")
    parser.add_argument("--rows", type=int, default=N_ROWS)
    parser.add_argument("--datasets", nargs="+", default=list(PLAN), choices=list(PLAN))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="*", help=f"time every pool size (default {SIZES})")
    parser.add_argument("--sweep-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sweep-n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if _dispatched(args):
        return
    if args.prepare:
        emb, info = real_embeddings(args.data, args.cache_dir, args.rows, args.threads)
        print(emb.shape, info)
        return
    info = (
        real_embeddings(args.data, args.cache_dir, args.rows, args.threads)[1]
        if "embeddings" in args.datasets
        else {}
    )
    # Each finished (data set, method) is kept in the partial file; a rerun measures only what is missing.
    done = load_partial(PARTIAL)
    for dataset in args.datasets:
        for method in PLAN[dataset]:
            key = f"{dataset}/{method}/{args.rows}/{args.threads}"
            if key not in done:
                done = save_partial(PARTIAL, key, run_unit(dataset, method, args))
    results, used = {}, []
    for dataset in PLAN:
        keys = {m: f"{dataset}/{m}/{args.rows}/{args.threads}" for m in PLAN[dataset]}
        if all(k in done for k in keys.values()):
            units = {m: done[k] for m, k in keys.items()}
            results[dataset] = summarize(units)
            results[dataset]["skactiveml_first_divergence"] = first_divergence(dataset, units, args)
            used += [done[k] for k in keys.values()]
    # Wall time of the measured units (each a fresh process: load, run, covering radius), not of the
    # one-off embedding computation (see the config's `embeddings`).
    wall = sum(row["unit_wall_seconds"] for row in used)
    config = {
        "rows": args.rows,
        "dim": DIM,
        "labeled": N_LABELED,
        "budget": BUDGET,
        "threads": args.threads,
        "embeddings": info,
        "methods": {k: v for k, v in METHODS.items()},
        "skactiveml": importlib.metadata.version("scikit-activeml"),
    }
    # seed 0: the embedding model's head and the rows' one shuffle (`--seeds` is not used here)
    payload = {"results": results, "config": config, "seeds": [0], "wall_seconds": wall}
    write_outputs(RESULTS / "kcenter_speed.json", payload, markdown(results, config, wall))


def _dispatched(args) -> bool:
    """Run a worker or the size sweep when asked; False when the main comparison should run."""
    if args.worker:
        worker(args)
    elif args.sweep_worker:
        print("RESULT " + json.dumps(sweep_worker(args.dataset, args.sweep_n, args)))
    elif args.sizes is not None:
        main_sizes(args)
    else:
        return False
    return True


def main_sizes(args) -> None:
    """Measure every pool size and add `results.sizes` to the results, keeping the 100,000-row blocks."""
    args.sizes = args.sizes or SIZES
    sizes, by_dataset, wall = sweep(args, PARTIAL, load_partial, save_partial)
    path = RESULTS / "kcenter_speed.json"
    old = json.loads(path.read_text()) if path.exists() else {"results": {}, "config": {}}
    results = {k: v for k, v in old["results"].items() if not k.startswith("sizes")}
    results.update({"sizes": sizes, "sizes_by_dataset": by_dataset})
    config = {**old["config"], "sizes": {"rows": args.sizes, "labeled": 300, "budget": 300}}
    config["sizes"]["wall_seconds"] = wall
    config["blocks_before_lazy"] = any(not k.startswith("sizes") for k in results)
    if config["blocks_before_lazy"] and "sizes" not in old["results"]:  # the 100,000-row run's own time
        config["blocks_wall_seconds"] = old.get("wall_seconds")
    config["skactiveml"] = importlib.metadata.version("scikit-activeml")
    payload = {"results": results, "config": config, "seeds": [0], "wall_seconds": wall}
    lines = markdown(results, {**config, "rows": config.get("rows", N_ROWS)}, old.get("wall_seconds", 0.0))
    write_outputs(path, payload, lines)


if __name__ == "__main__":
    main()
