"""LoOP speed by dimension: lesionlab's Local Outlier Probabilities (Kriegel, Kröger, Schubert & Zimek,
"LoOP: Local Outlier Probabilities", CIKM 2009) against PyNomaly's, side by side in one process.

Gaussian data (seed 0), k = 10, lambda = 3, one thread, N in {1,000, 5,000, 20,000} at d = 64 and
d = 1,280. Each repeat times lesionlab then PyNomaly on the same array; the speed-up is the median of the
per-repeat ratios (the machine is shared: a ratio measured side by side is steadier than two medians).
PyNomaly's time grows as N^2: where its estimate from the previous N exceeds `--cap` seconds it is not run
and the cell records lesionlab alone, said so. The section `loop_speed_by_dim` is merged into
`results/label_audit.json` (the rest of that file kept as it is), with the versions of cleanlab and
PyNomaly in its config.

    nice -n 5 python benchmarks/loop_speed.py --threads 1
"""

from __future__ import annotations

import json
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from common import RESULTS, base_parser
from provenance import write_outputs

DIMS = (64, 1280)
SIZES = (1000, 5000, 20000)
K, EXTENT = 10, 3
TARGET = 10.0  # issue 35: >= 10x PyNomaly at d = 64 and d = 1,280
SECTION = "## LoOP speed by dimension"


def bench_versions() -> dict[str, str]:
    """Versions of the reference packages the label audit is measured against."""
    out = {}
    for name in ("cleanlab", "PyNomaly"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _ours(x: np.ndarray) -> tuple[float, np.ndarray]:
    from lesionlab.training.local_outliers import local_outlier_probabilities

    t0 = time.perf_counter()
    scores = local_outlier_probabilities(x, n_neighbors=K, extent=EXTENT)
    return time.perf_counter() - t0, scores


def _theirs(x: np.ndarray) -> tuple[float, np.ndarray]:
    from PyNomaly import loop as pynomaly

    t0 = time.perf_counter()
    model = pynomaly.LocalOutlierProbability(x, extent=EXTENT, n_neighbors=K, use_numba=False).fit()
    scores = np.asarray(model.local_outlier_probabilities, dtype=float)
    return time.perf_counter() - t0, scores


def measure(n: int, d: int, repeats: int, pynomaly_estimate: float | None, cap: float) -> dict[str, Any]:
    """One cell: medians over repeats of both times, median per-repeat ratio, largest score difference."""
    x = np.random.default_rng(0).normal(size=(n, d))
    run_theirs = pynomaly_estimate is None or pynomaly_estimate <= cap
    if run_theirs and pynomaly_estimate:
        repeats = max(1, min(repeats, int(4 * cap // pynomaly_estimate)))  # PyNomaly <= ~4 caps a cell
    elif not run_theirs:
        repeats = min(repeats, 2)
    ours, theirs, diff = [], [], 0.0
    for _ in range(repeats):
        t, s_ours = _ours(x)
        ours.append(t)
        if run_theirs:
            t, s_theirs = _theirs(x)
            theirs.append(t)
            diff = max(diff, float(np.abs(s_ours - s_theirs).max()))
    row: dict[str, Any] = {"n": n, "d": d, "k": K, "repeats": repeats}
    row["lesionlab_seconds"] = float(np.median(ours))
    if not run_theirs:
        row["pynomaly_skipped"] = f"estimated {pynomaly_estimate:.0f} s per run > cap {cap:.0f} s"
        return row
    row["pynomaly_seconds"] = float(np.median(theirs))
    row["speedup_vs_pynomaly"] = float(np.median(np.array(theirs) / np.array(ours)))
    row["speedup_per_repeat"] = [round(b / a, 2) for a, b in zip(ours, theirs, strict=True)]
    row["max_abs_diff"] = diff
    return row


def speed_lines(by_dim: dict[str, dict[str, Any]], target: float) -> list[str]:
    """The markdown section: one row per (d, N)."""
    lines = [
        SECTION,
        "",
        f"`benchmarks/loop_speed.py`: Gaussian data, k = {K}, lambda = {EXTENT}, one thread, side by side in"
        f" one process; speed-up = median of the per-repeat ratios. Target >= {target:g}x.",
        "",
        "| d | N | repeats | lesionlab s | PyNomaly s | speed-up | max abs diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for d, cells in by_dim.items():
        for n, r in cells.items():
            if "speedup_vs_pynomaly" in r:
                rest = (
                    f"{r['pynomaly_seconds']:.2f} | {r['speedup_vs_pynomaly']:.1f}x | {r['max_abs_diff']:.1e}"
                )
            else:
                rest = f"not run ({r['pynomaly_skipped']}) | — | —"
            lines.append(f"| {d} | {n} | {r['repeats']} | {r['lesionlab_seconds']:.3f} | {rest} |")
    return lines


def merge(by_dim: dict[str, Any], config: dict[str, Any], target: float) -> None:
    """Write `loop_speed_by_dim` into label_audit.json/.md, keeping every other section as it was."""
    path = RESULTS / "label_audit.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    earlier = {k: old.pop(k) for k in ("provenance", "versions", "machine") if k in old}
    payload = {**old, "loop_speed_by_dim": by_dim}
    if not old.get("config"):  # written before results recorded their config: label_audit.py's own
        from label_audit import CONFIG

        old["config"] = CONFIG
    payload["config"] = {
        **old["config"],
        "loop_speed_by_dim": config,
        "versions": bench_versions(),
    }
    payload.setdefault("seeds", None)
    if earlier and "label_audit_run" not in old:
        payload["label_audit_run"] = earlier  # the record of the run that wrote the other sections
    md = path.with_suffix(".md")
    text = md.read_text() if md.exists() else "# Label audit\n"
    kept = text.split("\n" + SECTION)[0].rstrip("\n").split("\n")
    write_outputs(path, payload, [*kept, "", *speed_lines(by_dim, target)])


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--dims", type=int, nargs="+", default=list(DIMS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cap", type=float, default=180.0, help="longest PyNomaly run (s) to attempt")
    parser.add_argument("--no-write", action="store_true", help="print the cells, write nothing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy's BLAS too: both sides on the same number of threads
    by_dim: dict[str, dict[str, Any]] = {}
    for d in args.dims:
        by_dim[str(d)], estimate, last_n = {}, None, None
        for n in sorted(args.sizes):
            if estimate is not None:
                estimate *= (n / last_n) ** 2
            row = measure(n, d, args.repeats, estimate, args.cap)
            print(json.dumps(row), flush=True)
            by_dim[str(d)][str(n)] = row
            if "pynomaly_seconds" in row:
                estimate, last_n = row["pynomaly_seconds"], n
            else:
                last_n = n
    config = {
        "k": K,
        "extent": EXTENT,
        "data": "standard normal, seed 0",
        "threads": args.threads,
        "repeats": args.repeats,
        "pynomaly_cap_seconds": args.cap,
        "use_numba": False,
    }
    if not args.no_write:
        merge(by_dim, config, TARGET)


if __name__ == "__main__":
    main()
