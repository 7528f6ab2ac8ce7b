"""results/<name>.json and .md of `scale.py` from its stored units: scoring speed, a round at 10,000 and
100,000 images, serial against Ray; and the issue's targets, met or missed. Nothing here measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from common import RESULTS
from lesionlab.versions import package_versions as installed
from provenance import write_outputs

SCORING_TARGET = 60.0  # images/s at 224 px on 2 cores, decoding included
MEMORY_TARGET = 1.5  # peak memory of a round at 100,000 over that at 10,000
# The engines measured here, which `lesionlab.versions.versions()` does not list.
PACKAGES = ("onnx", "onnxruntime", "onnxscript", "ray")


def package_versions() -> dict[str, str]:
    """Installed versions of the scoring and Ray packages ("not installed" where absent)."""
    return installed(PACKAGES)


def unit_versions(done: dict) -> dict[str, Any]:
    """Per stored unit, the package versions it was measured with (units measured before units recorded
    them, 2026-12-07, say so: the versions in `config` are then those installed when the summary ran)."""
    return {key: row.get("package_versions", "not recorded") for key, row in done.items()}


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against what was measured (absent measurements are left out)."""
    out: dict[str, Any] = {}
    scoring = results["scoring"]
    if scoring:
        best = max(scoring.values(), key=lambda r: r["images_per_second"])
        out["scoring_images_per_second"] = {
            "target": SCORING_TARGET,
            "best": best["images_per_second"],
            "backend": best["backend"],
            "met": best["images_per_second"] >= SCORING_TARGET,
        }
    rounds = results["round"]
    if "10000" in rounds and "100000" in rounds:
        ratio = rounds["100000"]["peak_rss_mb"] / rounds["10000"]["peak_rss_mb"]
        out["round_peak_memory_ratio"] = {
            "target": MEMORY_TARGET,
            "ratio": ratio,
            "met": ratio <= MEMORY_TARGET,
        }
    return out


def by_kind(done: dict) -> dict[str, Any]:
    """The stored units in the issue's layout: the last measurement of each kind."""
    results: dict[str, Any] = {"scoring": {}, "round": {}, "ray": {}}
    for key, row in done.items():
        kind = key.split("/")[0]
        if kind == "scoring":
            results["scoring"][row["backend"]] = row
        elif kind == "round":
            results["round"][str(row["n"])] = row
        elif kind == "ray":
            results["ray"][row["experiment"]] = row
    if results["ray"]:
        rows = list(results["ray"].values())
        results["ray"]["identical"] = all(r["identical"] for r in rows)
        results["ray"]["wall_ratio_serial_over_ray"] = float(
            np.mean([r["wall_ratio_serial_over_ray"] for r in rows])
        )
    return results


def table_lines(name: str, results: dict[str, Any]) -> list[str]:
    """One row per measurement: scoring speed per backend, each round's steps, serial over Ray."""
    lines = [f"# {name}", "", "| measurement | value |", "|---|---|"]
    for backend, row in results["scoring"].items():
        lines.append(
            f"| scoring {backend} ({row['n']} {row['source']} images, 224 px, {row['threads']} thread(s), "
            f"{row['decode_workers']} decoding) | {row['images_per_second']:.1f} images/s, "
            f"peak {row['peak_rss_mb']:.0f} MB |"
        )
    for n, row in results["round"].items():
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in row["seconds"].items())
        lines.append(f"| round at {n} | {parts}; peak {row['peak_rss_mb']:.0f} MB |")
    for label, row in results["ray"].items():
        if isinstance(row, dict):
            lines.append(
                f"| {label}: serial / ray wall time | {row['wall_ratio_serial_over_ray']:.2f} "
                f"(identical: {row['identical']}) |"
            )
    return lines


def target_lines(goals: dict[str, Any]) -> list[str]:
    """The issue's targets, met or missed."""
    lines: list[str] = []
    if goals:
        lines += ["", "Targets:", ""]
    if "scoring_images_per_second" in goals:
        g = goals["scoring_images_per_second"]
        lines.append(
            f"- pool scoring >= {g['target']:.0f} images/s: {g['best']:.1f} ({g['backend']}): "
            f"**{'met' if g['met'] else 'missed'}**"
        )
    if "round_peak_memory_ratio" in goals:
        g = goals["round_peak_memory_ratio"]
        lines.append(
            f"- peak memory of a round at 100,000 / at 10,000 <= {g['target']}: {g['ratio']:.2f}: "
            f"**{'met' if g['met'] else 'missed'}**"
        )
    return lines


def version_line(done: dict) -> str:
    """One markdown line: the engines' versions, and whether the units recorded their own."""
    now = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    missing = [k for k, v in unit_versions(done).items() if v == "not recorded"]
    if not missing:
        return f"Packages (recorded by every unit): {now}."
    return (
        f"Packages installed when this summary was written: {now}. {len(missing)} of {len(done)} units were"
        " measured before units recorded their versions (2026-12-07), so theirs are not known:"
        f" {', '.join(missing)}."
    )


def write_results(args: Any, done: dict, wall: float | None) -> None:
    """`results/<name>.json` in the issue's layout (the last measurement of each kind) and its table."""
    results = by_kind(done)
    goals = targets(results)
    lines = table_lines(args.name, results) + target_lines(goals)
    if wall is not None:
        lines += [
            "",
            f"Wall time of the measuring run: {wall / 60:.0f} min (the synthetic pool not included).",
        ]
    lines += ["", version_line(done)]
    payload = {
        "targets": goals,
        "results": results,
        "config": {
            **{k: str(v) for k, v in vars(args).items()},
            "package_versions_at_write": package_versions(),
            "package_versions_by_unit": unit_versions(done),
        },
        # the real-data experiment's seed (the demo runs its own two, see the module docstring); the
        # synthetic pool and the scoring runs draw no random numbers that change what is measured
        "seeds": [0],
        "wall_seconds": wall,
    }
    write_outputs(RESULTS / f"{args.name}.json", payload, lines)
