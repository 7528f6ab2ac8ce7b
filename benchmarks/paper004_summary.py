"""paper004.json / .md: the rows of Zhou et al. 2021 ("Active, Continual Fine Tuning of Convolutional Neural
Networks for Reducing Annotation Efforts") that `paper004.py` finished, as blocks (ALC, labels to 99 % of full
data, seconds per round, positives among the picks), the summary table, Table 4's layout and the targets.
Reading and tabulating only: nothing here trains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from al_common import labels_text
from common import RESULTS, fmt, saving_cell
from lesionlab.evaluation.acft_report import balance_figure, save_png
from lesionlab.evaluation.acft_report import positive_share as acft_positive_share
from lesionlab.evaluation.metrics import mean_se
from lesionlab.evaluation.report import write_report
from lesionlab.evaluation.summary import summarize
from paper004 import (
    ACFT_ROWS,
    BUDGET,
    EXPERIMENT_OVERRIDES,
    FULL_DATA,
    PARTS,
    POOL_POSITIVE_SHARE,
    ROUNDS,
    ROWS,
    TASK,
    merged,
)
from provenance import write_outputs

# The paper's Table 4 on its three applications (ALC), for the columns this benchmark runs.
PAPER_TABLE4_ENTROPY_MAJ_RAND = {
    "colonoscopy": {"acft_q": 0.9061, "acft_lq": 0.9223, "aft_lq": 0.9291, "acft_hq": 0.9293, "rft": 0.8958},
    "polyp": {"acft_q": 0.9271, "acft_lq": 0.9444, "aft_lq": 0.9522, "acft_hq": 0.9443, "rft": 0.9358},
    "pulmonary_embolism": {
        "acft_q": 0.7833,
        "acft_lq": 0.8245,
        "aft_lq": 0.8222,
        "acft_hq": 0.8205,
        "rft": 0.7849,
    },
}


def seconds_per_round(raw: dict[str, Any]) -> dict[str, Any]:
    """Mean over seeds of each seed's mean training seconds per trained round (and selection seconds)."""
    train = [np.mean([r["train_seconds"] for r in run["rounds"]]) for run in raw["runs"]]
    select = [
        np.mean([r["selection_seconds"] for r in run["rounds"] if r.get("new_ids")]) for run in raw["runs"]
    ]
    trained_on = [np.mean([r["n_trained_on"] for r in run["rounds"]]) for run in raw["runs"]]
    # CPU seconds (recorded since the runner has them) do not count the neighbours on a shared machine.
    cpu = [
        np.mean([r["train_cpu_seconds"] for r in run["rounds"]])
        for run in raw["runs"]
        if all("train_cpu_seconds" in r for r in run["rounds"])
    ]
    return {
        "train": {k: mean_se(train)[k] for k in ("mean", "se")},
        "train_cpu": {k: mean_se(cpu)[k] for k in ("mean", "se")} if len(cpu) == len(train) else None,
        "selection": {k: mean_se(select)[k] for k in ("mean", "se")},
        "images_trained_on": {k: mean_se(trained_on)[k] for k in ("mean", "se")},
    }


def positive_share(raw: dict[str, Any], positive: str) -> list[float]:
    """Fig. 8: per round, the mean over seeds of the share of the selected candidates that are positive."""
    # After an empty start the first batch is the first public round's labelled set (round 0 trained
    # nothing, so results.json leaves it out); later batches are each round's new picks.
    first = [{"new_class_counts": run["rounds"][0].get("labeled_class_counts")} for run in raw["runs"]]
    per_run = [
        acft_positive_share([f, *run["rounds"]], positive) for f, run in zip(first, raw["runs"], strict=True)
    ]
    out = []
    for i in range(min(len(r) for r in per_run)):
        values = [r[i] for r in per_run if r[i] is not None]
        if values:
            out.append(float(np.mean(values)))
    return out


def first_and_gain(raw: dict[str, Any], metric: str) -> dict[str, dict[str, float]]:
    """The metric after the first batch and its gain from there to the last round, over seeds. The
    continual rows share their first batch (picked by the untrained head), so the gain is what their
    learning strategy adds, apart from where the first batch put them."""
    first = [run["rounds"][0]["metrics"][metric] for run in raw["runs"]]
    gain = [run["rounds"][-1]["metrics"][metric] - run["rounds"][0]["metrics"][metric] for run in raw["runs"]]
    return {
        "first_round": {k: mean_se(first)[k] for k in ("mean", "se")},
        "gain_to_last_round": {k: mean_se(gain)[k] for k in ("mean", "se")},
    }


def row_block(summary: dict[str, Any], raw: dict[str, Any], row: str) -> dict[str, Any]:
    info = summary["strategies"][row]
    metric = summary["metric"]
    return {
        "strategy": ROWS[row][0],
        "strategy_params": ROWS[row][1],
        "learning": ROWS[row][2] + (" (lr x1)" if row in EXPERIMENT_OVERRIDES else ""),
        "alc": {"mean": info["alc"]["mean"], "se": info["alc"]["se"]},
        "labels_to_99pct_full": info["labels_to_target"],
        "saving_vs_rft": info.get("saving_vs_random"),
        "vs_rft": info.get("vs_random"),
        "seconds_per_round": seconds_per_round(raw),
        **first_and_gain(raw, metric),
        "curve": [
            {"n_labeled": n, metric: {"mean": p["mean"], "se": p["sem"]}}
            for n, p in zip(info["n_labeled"], info["curves"][metric], strict=True)
        ],
        "positive_share_selected": positive_share(raw, summary.get("positive_class") or "melanoma"),
        "class_balance": info["class_balance"],
    }


def summary_lines(
    blocks: dict[str, Any], full_entry: dict, missing: list[str], seeds: list[int]
) -> list[str]:
    full_auc = full_entry["auc"]["mean"]
    md = [
        f"## ISIC 2017 {TASK}: test AUC, mean ± s.e. over seeds {seeds}",
        "",
        f"Full data (same training, `{FULL_DATA}.json`): AUC {fmt(full_entry['auc'])}; 99 % of it = "
        f"{0.99 * full_auc:.3f}.",
        "",
        "| row | strategy | learning | ALC | AUC at 100 labels | gain to 1000 | labels to 99 % full "
        "| saving vs RFT | vs RFT (p, 30 paired points) | train s/round | images trained on/round "
        "| positives among the picks (batches 1-3) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rft_alc = blocks["rft"]["alc"]["mean"] if "rft" in blocks else float("-inf")
    for row, b in blocks.items():
        share = ", ".join(f"{s:.2f}" for s in b["positive_share_selected"][:3])
        spr = b["seconds_per_round"]
        secs = fmt(spr["train"]) + (f" ({fmt(spr['train_cpu'])} CPU)" if spr["train_cpu"] else "")
        md.append(
            f"| {row} | {(b['strategy'] + ' ' + _params(b['strategy_params'])).strip()} | {b['learning']} | "
            f"{fmt(b['alc'])} | {fmt(b['first_round'])} | {fmt(b['gain_to_last_round'])} | "
            f"{labels_text(b)} | {saving_cell(b, rft_alc, 'saving_vs_rft')} | {vs_rft_text(b)} | {secs} | "
            f"{spr['images_trained_on']['mean']:.0f} | {share} |"
        )
    if missing:
        md += ["", f"Not finished (no summary yet): {', '.join(missing)}."]
    return md


def vs_rft_text(block: dict[str, Any]) -> str:
    """Mean AUC difference to RFT over the paired (seed, round) points and its Wilcoxon p."""
    test = (block.get("vs_rft") or {}).get("points_test")
    if not test:
        return "—"
    p = test["p_wilcoxon"]
    return f"{test['mean_difference']:+.3f} (p {'< 0.001' if p < 0.001 else f'{p:.3f}'})"


# Table 4's layout: its learning strategies down, its eight selection criteria across.
TABLE4_LEARNING = {"acft_q": "ACFT(Q)", "acft_lq": "ACFT(LQ)", "retrain": "AFT(LQ)", "acft_hq": "ACFT(HQ)"}
TABLE4_CRITERIA = [
    (crit, maj, rand) for crit in ("diversity", "entropy") for maj, rand in ((0, 0), (1, 0), (0, 1), (1, 1))
]


def table4_lines(blocks: dict[str, Any]) -> list[str]:
    """The rows that ran, placed in the paper's Table 4 (ALC, mean ± s.e.); empty cells were not run."""
    cells: dict[tuple[str, tuple], str] = {}
    for row, b in blocks.items():
        params = b["strategy_params"]
        crit = b["strategy"].removeprefix("acft_")
        key = (crit, int(params.get("majority", 0)), int(params.get("randomness", 0)))
        learning = ROWS[row][2]
        if key in TABLE4_CRITERIA and learning in TABLE4_LEARNING and row not in EXPERIMENT_OVERRIDES:
            cells[(learning, key)] = fmt(b["alc"])
    head = [f"{c[:3]} {'+' if m else '-'}maj {'+' if r else '-'}rand" for c, m, r in TABLE4_CRITERIA]
    md = [
        "Table 4's layout (ALC; paper: AlexNet on three other applications, see `docs/reproduction.md`):",
        "",
        "| learning | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(head),
    ]
    for learning, name in TABLE4_LEARNING.items():
        md.append(f"| {name} | " + " | ".join(cells.get((learning, k), "") for k in TABLE4_CRITERIA) + " |")
    if "rft" in blocks:
        md += ["", f"RFT (random, retrained from M0): ALC {fmt(blocks['rft']['alc'])}."]
    return md


def _params(params: dict[str, Any]) -> str:
    flags = [("+" if params.get(k) else "-") + k[:3] for k in ("majority", "randomness") if k in params]
    return " ".join(flags)


def target_lines(blocks: dict[str, Any]) -> tuple[list[str], float | None]:
    lines, ratio = [], None
    rft = blocks.get("rft")
    acft = [blocks[r] for r in ACFT_ROWS if r in blocks]
    if rft and acft:
        rft_l = (rft["labels_to_99pct_full"] or {}).get("mean")
        best = min(
            (
                b["labels_to_99pct_full"]["mean"]
                for b in acft
                if (b["labels_to_99pct_full"] or {}).get("mean")
            ),
            default=None,
        )
        if rft_l and best:
            ratio = best / rft_l
            verdict = "met" if ratio <= 0.5 else "missed"
            lines.append(
                f"- ACFT needs at most half the labels RFT needs to reach 99 % of full data: **{verdict}** "
                f"(best ACFT {best:.0f} vs RFT {rft_l:.0f} labels, ratio {ratio:.2f})."
            )
        else:
            who = "RFT never reaches" if not rft_l else "no ACFT row reaches"
            lines.append(
                f"- ACFT vs RFT labels to 99 % of full data: undefined, because {who} it within "
                f"{BUDGET * ROUNDS} labels (see the savings vs RFT's best AUC in the table)."
            )
    aft, hq = blocks.get("aft_lq"), blocks.get("acft_hq")
    if aft and hq:
        # CPU seconds when both rows have them: wall seconds also measure whatever ran beside.
        kind = (
            "train_cpu"
            if hq["seconds_per_round"]["train_cpu"] and aft["seconds_per_round"]["train_cpu"]
            else "train"
        )
        faster = hq["seconds_per_round"][kind]["mean"] < aft["seconds_per_round"][kind]["mean"]
        diff = hq["alc"]["mean"] - aft["alc"]["mean"]
        within = abs(diff) <= max(hq["alc"]["se"] or 0, aft["alc"]["se"] or 0)
        verdict = "met" if faster and within else "missed"
        lines.append(
            f"- ACFT(HQ) trains faster per round than AFT(LQ) at an ALC within one s.e.: **{verdict}** "
            f"({fmt(hq['seconds_per_round'][kind])} vs {fmt(aft['seconds_per_round'][kind])} "
            f"{'CPU ' if kind == 'train_cpu' else ''}s per round; "
            f"ALC {hq['alc']['mean']:.3f} vs {aft['alc']['mean']:.3f}, {diff:+.3f})."
        )
    return lines, ratio


def finished_rows(seeds: list[int]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every row whose requested seeds have all finished, whichever run made them; and the others."""
    raws, missing = {}, []
    for row in ROWS:
        raw = merged(row, seeds)
        if raw is None:
            missing.append(row)
        else:
            raws[row] = raw
    return raws, missing


def row_blocks(
    raws: dict[str, dict[str, Any]], gallery_of: Callable[[str], Any] | None
) -> dict[str, dict[str, Any]]:
    """Each row's block, tested against RFT's runs of the same seeds; its report.html, and the candidate
    gallery of the ACFT rows (`gallery_of(row)`, None to skip it)."""
    blocks = {}
    for row, raw in raws.items():
        pair = (
            raw
            if row == "rft" or "rft" not in raws
            else {**raw, "runs": raw["runs"] + [{**run, "strategy": "random"} for run in raws["rft"]["runs"]]}
        )
        summary = summarize(pair)
        blocks[row] = row_block(summary, raw, row)
        if row in ("rft",):
            blocks[row]["saving_vs_rft"] = None
        write_report(raw, RESULTS / "paper004" / TASK / row)
        if row in ACFT_ROWS and gallery_of is not None:
            gallery_of(row)
    return blocks


def write_summary(
    seeds: list[int],
    full_entry: dict[str, Any],
    config: dict[str, Any],
    t_start: float,
    gallery_of: Callable[[str], Any] | None,
) -> None:
    """paper004.json / .md and the positives figure from every finished row (if none: says so, no file)."""
    raws, missing = finished_rows(seeds)
    if not raws:
        print("no row has finished every requested seed yet: no summary written")
        return
    blocks = row_blocks(raws, gallery_of)
    shares = {
        row: b["positive_share_selected"] for row, b in blocks.items() if row in ("rft", *PARTS["main"])
    }
    save_png(balance_figure(shares, POOL_POSITIVE_SHARE), RESULTS / "paper004" / TASK / "positive_share.png")
    lines, ratio = target_lines(blocks)
    payload = {
        "results": {f"isic2017_{TASK}": {**blocks, "full_data": full_entry}},
        "label_ratio_best_acft_over_rft": ratio,
        "missing_rows": missing,
        "config": config,
        "paper_table4_entropy_majority_randomness": PAPER_TABLE4_ENTROPY_MAJ_RAND,
        "seeds": seeds,
        "wall_seconds": time.perf_counter() - t_start,
    }
    head = [
        "# Reproduction of Zhou et al. 2021 (ACFT) on ISIC 2017 melanoma",
        "",
        "Reproduce: `python benchmarks/paper004.py --part main learning table4 --threads 1` (resumable per "
        "row and seed). Seconds per round: training time of a round (1 thread), mean over its rounds and "
        "seeds. Positives selected: share of melanomas among each round's picks (the pool holds 18.7 %).",
        "",
    ]
    md = summary_lines(blocks, full_entry, missing, seeds)
    md += ["", *table4_lines(blocks), "", "Targets:", "", *lines, ""]
    write_outputs(RESULTS / "paper004.json", payload, head + md)
    print("\n".join(md))
