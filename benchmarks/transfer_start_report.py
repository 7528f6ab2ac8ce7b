"""The markdown of `transfer_start.py`: per clinic the AUC by labels with paired differences, the starts
`project train` chose, the domain check, and the table docs/annotation.md quotes."""

from __future__ import annotations

from typing import Any

# The clinics, arms and label counts of the benchmark (transfer_start.py imports them from here).
ARMS = ("scratch", "from_run")
CLINICS = ("ham10000_from_isic2017", "isic2017_from_ham10000")
COUNTS = (0, 10, 20, 40, 80, 120, 160, 200)


def markdown(results: dict[str, Any]) -> list[str]:
    lines = [
        "# Start from a trained model (issue 33, section 1): `python benchmarks/transfer_start.py`",
        "",
        "Melanoma AUC on the test images of the newest model version, mean ± SE over seeds, by labels "
        "revealed (the project proposes, an oracle labels, `project train` at each count).",
        "",
    ]
    for clinic, out in results.items():
        lines += [f"## {clinic}", "", "| labels | " + " | ".join(ARMS) + " | from_run − scratch (paired) |"]
        lines.append("|---|---|---|---|")
        for c in COUNTS:
            cells = []
            for arm in ARMS:
                a = out.get(arm, {}).get(str(c), {}).get("auc")
                cells.append(f"{a['mean']:.3f} ± {a['se']:.3f}" if a else "—")
            d = out["from_run_minus_scratch"][str(c)]
            paired = f"{d['mean']:+.3f} ± {d['se']:.3f} (n={len(d['seeds'])})" if d["seeds"] else "—"
            lines.append(f"| {c} | " + " | ".join(cells) + f" | {paired} |")
        chosen = [
            f"{c}: " + ", ".join(f"{n} {k}" for n, k in out["from_run"][str(c)]["starts"].items())
            for c in COUNTS
            if out.get("from_run", {}).get(str(c), {}).get("starts")
        ]
        if chosen:
            lines += ["", "Start chosen by `project train` (seeds), by labels: " + "; ".join(chosen)]
        d = out["from_run_40_minus_scratch_200"]
        if d["seeds"]:
            lines += ["", f"from_run at 40 labels − scratch at 200: {d['mean']:+.3f} ± {d['se']:.3f}"]
        dc = out.get("domain_check")
        if dc:
            lines += [
                "",
                f"Domain check at init: two-sample AUC {dc['two_sample_auc']['mean']:.3f}, outlier share "
                f"{dc['outlier_share']['mean']:.3f} (0.05 when alike), verdict {', '.join(dc['verdicts'])} "
                f"({dc['n_reference']} run training images against {dc['n_new']} clinic images).",
            ]
        lines.append("")
    return lines + docs_table(results)


def docs_table(results: dict[str, Any]) -> list[str]:
    """The AUC table docs/annotation.md quotes and the starts `project train` chose in `from_run` (seeds per
    start; tests/test_project_transfer_figures.py compares them)."""
    head = [
        "| clinic, arm | "
        + " | ".join(f"{c} labels" if i == 0 else str(c) for i, c in enumerate(COUNTS))
        + " |"
    ]
    lines = ["## Table of docs/annotation.md", "", *head, "|---" * (len(COUNTS) + 1) + "|"]
    for clinic in CLINICS:
        for arm in ARMS:
            if arm in results.get(clinic, {}):
                cells = [f"{results[clinic][arm][str(c)]['auc']['mean']:.3f}" for c in COUNTS]
                lines.append(f"| {clinic}, {arm} | " + " | ".join(cells) + " |")
    lines += ["", head[0].replace("clinic, arm", "clinic, start chosen"), "|---" * (len(COUNTS) + 1) + "|"]
    for clinic in CLINICS:
        if "from_run" in results.get(clinic, {}):
            cells = [
                ", ".join(f"{n} {k}" for n, k in results[clinic]["from_run"][str(c)]["starts"].items()) or "—"
                for c in COUNTS
            ]
            lines.append(f"| {clinic}, start chosen | " + " | ".join(cells) + " |")
    return lines
