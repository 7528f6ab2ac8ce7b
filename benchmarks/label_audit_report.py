"""results/label_audit.json and .md from the finished units of `label_audit.py` (kept apart from the
measuring code, so the tables can be rebuilt and read without the features, cleanlab or PyNomaly).

One function per section of the report: finding wrong labels, the tuned weights, LoOP speed, the noisy
oracle in the loop.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from common import RESULTS, fmt, summarize_values
from provenance import write_outputs

HEADER = [
    "# Label audit (issue 16): lesionlab vs cleanlab, LoOP speed, the noisy oracle in the loop",
    "",
    "Reproduce: `nice -n 5 python benchmarks/label_audit.py --threads 1 --parts features tune audit"
    " loop_speed` and `--parts noisy_oracle` (see the script's docstring).",
    "",
]


def mean_of(rows: list[dict[str, Any]], method: str, key: str) -> dict[str, float]:
    """{"mean", "se", "n"} of one method's `key` over the seeds' rows."""
    return summarize_values([{key: r[method][key]} for r in rows], [key])[key]


def pm(stat: dict[str, float]) -> str:
    """mean ± s.e., or the value alone for one seed."""
    return fmt(stat) if stat.get("n", 0) > 1 else f"{stat['mean']:.3f}"


def audit_entry(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One noise set's numbers over its seeds: precision and recall at k of both methods, flips, signals."""
    entry: dict[str, Any] = {
        m: {
            "precision_at_k": mean_of(rows, m, "precision_at_k"),
            "recall_at_k": mean_of(rows, m, "recall_at_k"),
        }
        for m in ("lesionlab", "cleanlab")
    }
    entry["n_seeds"] = len(rows)
    entry["n_flipped"] = float(np.mean([r["n_flipped"] for r in rows]))
    entry["signals_alone_precision_at_k"] = {
        k: float(np.mean([r["signals_alone"][k] for r in rows])) for k in rows[0]["signals_alone"]
    }
    return entry


def audit_section(done: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Finding wrong labels: per noise set, lesionlab's audit against cleanlab, and the verdict."""
    results: dict[str, Any] = {}
    lines = [
        "## Finding wrong labels (ISIC 2017 melanoma, 2,000 training images)",
        "",
        "Precision at k = recall at k (k = the number of flips), mean ± s.e. over seeds; both methods ranked"
        " from the same 5-fold out-of-sample probabilities (logistic regression on frozen Lite0 embeddings"
        " of 4 views).",
        "",
        "| noise set | flips | lesionlab | cleanlab | cleanlab flagged | seeds |",
        "|---|---|---|---|---|---|",
    ]
    names = sorted({k.split("/")[1] for k in done if k.startswith("audit/")})
    for name in names:
        rows = [v for k, v in done.items() if k.startswith(f"audit/{name}/")]
        entry = results[name] = audit_entry(rows)
        flagged = np.mean([r["cleanlab"]["n_flagged"] for r in rows])
        lines.append(
            f"| {name} | {entry['n_flipped']:.0f} | {pm(entry['lesionlab']['precision_at_k'])} | "
            f"{pm(entry['cleanlab']['precision_at_k'])} | {flagged:.0f} | {len(rows)} |"
        )
    if results:
        lines += verdict_lines(results)
    return results, lines


def verdict_lines(results: dict[str, Any]) -> list[str]:
    """Whether lesionlab finds more flips than cleanlab on every set, and each signal alone."""
    won = [
        n
        for n, e in results.items()
        if e["lesionlab"]["precision_at_k"]["mean"] > e["cleanlab"]["precision_at_k"]["mean"]
    ]
    lost = [n for n in results if n not in won]
    return [
        "",
        f"Verdict: lesionlab finds more flips than cleanlab on {', '.join(won) or 'no set'}; fewer on"
        f" {', '.join(lost) or 'no set'}. The target (better on every set) is"
        f" {'met' if not lost else 'not met'}. `ranked_*` sets: the paper's model-ranked noise with a"
        " logistic-regression scorer on the view-0 embeddings; `ranked_net_*`: with paper002.py's network"
        " scorer (its cached scores, seed 0), the paper's protocol. Each signal alone (precision at k,"
        " mean over seeds): "
        + "; ".join(
            f"{n}: " + ", ".join(f"{k} {v:.3f}" for k, v in e["signals_alone_precision_at_k"].items())
            for n, e in results.items()
        )
        + ".",
    ]


def tune_lines(tune: dict[str, Any]) -> list[str]:
    """The combination weights chosen on task 2's noisy sets (never on the sets of the table)."""
    alone = ", ".join(f"{k} {v:.3f}" for k, v in tune["signals_alone"].items())
    return [
        "",
        f"Combination weights chosen on task 2 (seborrheic keratosis) noisy sets {tune['sets']},"
        f" seeds {tune['seeds']} (never on the sets above): {tune['best']['weights']} (mean precision at k"
        f" there {tune['best']['mean_precision_at_k']:.3f};"
        f" cleanlab {tune['cleanlab_mean_precision_at_k']:.3f}; each signal alone: {alone}).",
    ]


def speed_section(done: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """LoOP against PyNomaly: seconds and the largest difference, per N."""
    speed: dict[str, Any] = {}
    if not any(k.startswith("loop_speed/") for k in done):
        return speed, []
    lines = [
        "",
        "## LoOP speed (Gaussian data, d = 1,280, k = 10, one thread)",
        "",
        "| N | lesionlab s | PyNomaly s | speed-up | max abs diff |",
        "|---|---|---|---|---|",
    ]
    for k, v in sorted(done.items()):
        if k.startswith("loop_speed/"):
            speed[str(v["n"])] = v
            lines.append(
                f"| {v['n']} | {v['lesionlab_seconds']:.2f} | {v['pynomaly_seconds']:.1f} | "
                f"{v['speedup_vs_pynomaly']:.1f}x | {v['max_abs_diff']:.1e} |"
            )
    return speed, lines


def oracle_lines(oracle: dict[str, Any]) -> list[str]:
    """The noisy oracle in the loop, with and without the audit: ALC, AUC per round, wrong labels held."""
    lines = [
        "",
        "## Noisy oracle in the loop (10 % uniform wrong answers, random selection)",
        "",
        "ALC of test AUC over the annotation cost (labels + re-labels), mean ± s.e. over seeds "
        f"{oracle['seeds']}; settings {oracle['settings']}.",
        "",
        "| run | ALC | AUC per round (equal cost) | wrong labels held at the last round (per seed) |",
        "|---|---|---|---|",
    ]
    for key in ("without_audit", "with_audit"):
        r = oracle[key]
        # the last round buys nothing, so the last count is that of the round before
        wrong = [next((x for x in reversed(w) if x is not None), None) for w in r["wrong_labels_per_seed"]]
        auc = ", ".join(f"{a['mean']:.3f}" for a in r["auc"])
        lines.append(f"| {key} | {fmt(r['alc'])} | {auc} | {wrong} |")
    r = oracle["with_audit"]
    lines += [
        "",
        f"Re-labels per seed: {r['relabeled_per_seed']}, of which the second answer changed the label:"
        f" {r['relabel_changed_per_seed']} (with 10 % wrong answers, a re-label of a right label changes"
        " it 10 % of the time, of a wrong one 90 %). Labels held (distinct images) at the last round:"
        f" {oracle['without_audit']['n_labeled'][-1]:.0f} without, {r['n_labeled'][-1]:.0f} with the"
        f" audit, for the same cost {r['annotation_cost'][-1]:.0f}.",
    ]
    lines.append("")
    lines.append("Report: `results/label_audit/noisy_oracle/report.html`.")
    return lines


def write_results(done: dict[str, Any], seeds: list[int], config: dict[str, Any]) -> None:
    """results/label_audit.json (the issue's layout, means over seeds) and its markdown."""
    results, lines = audit_section(done)
    lines = HEADER + lines
    if "tune" in done:
        lines += tune_lines(done["tune"])
    speed, speed_md = speed_section(done)
    lines += speed_md
    oracle = done.get("noisy_oracle")
    if oracle:
        lines += oracle_lines(oracle)
    earlier = RESULTS / "label_audit.json"  # loop_speed.py's section survives a re-summary
    by_dim = json.loads(earlier.read_text()).get("loop_speed_by_dim") if earlier.exists() else None
    if by_dim:
        from loop_speed import TARGET, speed_lines

        lines += ["", *speed_lines(by_dim, TARGET)]
    payload = {
        "results": results,
        "loop_speed": speed,
        "loop_speed_by_dim": by_dim,
        "noisy_oracle": oracle,
        "tune": done.get("tune"),
        "config": config,
        "seeds": seeds,
        "raw": {k: v for k, v in done.items() if k.startswith("audit/")},
    }
    write_outputs(RESULTS / "label_audit.json", payload, lines)
