"""Label audit (issue 16, items 7-8): lesionlab's audit against cleanlab, LoOP speed against PyNomaly, and
the noisy oracle in the active-learning loop with and without the audit. The noise model and LoOP come from
Xue et al. 2019, "Robust Learning at Noisy Labeled Medical Images: Applied to Skin Lesion Classification"
(ISBI 2019).

Parts (each resumable: finished units are kept in `results/label_audit.partial.json`, local):

1. `features`: pooled EfficientNet-Lite0 (ImageNet) embeddings of 4 fixed views of the 2,000 ISIC 2017
   training images at 224 px (CPU fast path; cached under CACHE/benchmarks/label_audit/).
2. `audit`: noisy label sets on ISIC 2017 task 1 (melanoma): model-ranked noise at gamma 0.2 and 0.4
   (`lesionlab.data.noise.ranked_noise`; the scorer is a logistic regression on the view-0 embeddings of
   the paper's 1,000 / 3,582 share of the images) and uniform noise at 0.2. Both methods get the same
   5-fold out-of-sample probabilities (logistic regression on the embeddings, fitted on all views of the
   training folds, averaged over the views of the held-out images); cleanlab ranks with
   `find_label_issues(..., return_indices_ranked_by="self_confidence")` (its flagged images first, then
   the rest by its label quality score), lesionlab with `audit_labels`. Precision and recall at k = the
   number of flips. The audit's combination weights were chosen on task 2 (seborrheic keratosis) noisy
   sets of the same images (`tune` part), never on the reported task-1 sets.
3. `loop_speed`: lesionlab's LoOP against PyNomaly at N = 5,000 and 20,000, d = 1,280, k = 10 (Gaussian
   data), one thread: wall time, speed-up, largest absolute score difference.
4. `noisy_oracle`: ISIC 2017 melanoma AL (the al_baselines protocol, random selection) with a noisy
   oracle (10 % uniform wrong answers), 3 seeds, with and without `experiment.audit`; ALC of test AUC over
   the total annotation cost.

    nice -n 5 python benchmarks/label_audit.py --threads 1 --parts features tune audit loop_speed
    nice -n 5 python benchmarks/label_audit.py --threads 1 --parts noisy_oracle
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import RESULTS, base_parser, fmt, load_partial, save_partial, summarize_values
from provenance import write_outputs

PARTIAL = RESULTS / "label_audit.partial.json"
VIEWS = 4
# Tuning sets (task 2): model-ranked noise from a logistic regression (all seeds) and from the network
# recipe of paper002.py (seed 0: one fit), uniform noise.
TUNE_SETS = ["ranked_0.2", "ranked_0.4", "uniform_0.2", "ranked_net_0.2", "ranked_net_0.4"]
NET_SEEDS = [0]


# --------------------------------------------------------------------------- features
def isic_train(data: Path, task: str):
    from lesionlab.data.sources import load_source

    ds = load_source("isic2017", data / "isic2017", task=task)
    return ds, ds.split("train")


def features(data: Path, cache: Path) -> tuple[list[str], np.ndarray]:
    """(ids, (V, N, D)) embeddings of the ISIC 2017 training images, computed once and cached."""
    from lesionlab.audit.features import backbone_features
    from lesionlab.config import TrainConfig

    _, records = isic_train(data, "3class")
    ids = [r.id for r in records]
    tag = hashlib.sha256(("|".join(ids) + f"|{VIEWS}|lite0|224|gray_world|f5").encode()).hexdigest()[:12]
    path = cache / "benchmarks" / "label_audit" / f"isic2017_train_{tag}.npz"
    if path.exists():
        z = np.load(path)
        return list(z["ids"]), z["x"]
    t0 = time.perf_counter()
    x = backbone_features(records, views=VIEWS, train=TrainConfig(progress=True), cache_dir=cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, ids=np.array(ids), x=x)
    tmp.rename(path)
    print(f"features {x.shape} in {time.perf_counter() - t0:.0f} s", flush=True)
    return ids, x


# --------------------------------------------------------------------------- noise sets and rankings
def labels_for(data: Path, ids: list[str], task: str) -> tuple[np.ndarray, list[str]]:
    ds, records = isic_train(data, task)
    by_id = {r.id: r.label for r in records}
    return np.array([by_id[i] for i in ids], dtype=np.int64), ds.classes


def noise_set(name: str, labels: np.ndarray, x: np.ndarray, seed: int, task: str):
    """A `NoisyLabels` for set `name` (ranked_0.2, ranked_net_0.4, uniform_0.2, ...) and seed."""
    from lesionlab.data.noise import logistic_scorer, ranked_noise, symmetric_noise

    kind, rate = name.rsplit("_", 1)
    if kind == "uniform":
        return symmetric_noise(labels, float(rate), 2, seed=seed)
    if kind == "ranked":
        scorer = logistic_scorer(x[0], labels, C=0.1)
        return ranked_noise(labels, float(rate), scorer, num_classes=2, seed=seed)
    # ranked_net: a network scorer as in paper002.py (melanoma: its cached scores; task 2: ours, same recipe)
    stored = np.load(NET_SCORES[task](seed))

    def cached(train_idx: np.ndarray, score_idx: np.ndarray) -> np.ndarray:
        assert np.array_equal(train_idx, stored["train_idx"]) and np.array_equal(
            score_idx, stored["score_idx"]
        )
        return stored["probs"]

    return ranked_noise(labels, float(rate), cached, num_classes=2, seed=seed)


def task2_network_scores(data: Path, cache: Path, seed: int, threads: int) -> Path:
    """paper002.py's noise classifier (same training recipe, same split of the images) on task 2's labels,
    for the tuning sets; its probabilities are cached."""
    path = NET_SCORES["seborrheic_keratosis"](seed)
    if path.exists():
        return path
    from lesionlab.data.noise import ranked_noise
    from lesionlab.models.registry import create_classifier
    from lesionlab.training.trainer import Trainer
    from paper002 import train_config

    ds, train = isic_train(data, "seborrheic_keratosis")
    val = ds.split("val", labeled_only=True)
    stash: dict[str, np.ndarray] = {}

    def scorer(train_idx: np.ndarray, score_idx: np.ndarray) -> np.ndarray:
        model = create_classifier("efficientnet_lite0", 2, "imagenet", 0.2, seed=seed)
        trainer = Trainer(model, train_config(threads, seed, "weighted_ce"), cache_dir=cache)
        trainer.fit([train[i] for i in train_idx], val, ds.classes)
        probs = trainer.predict([train[i] for i in score_idx])
        stash.update(train_idx=train_idx, score_idx=score_idx, probs=probs)
        return probs

    ranked_noise(np.array([r.label for r in train]), 0.0, scorer, num_classes=2, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **stash)
    return path


NET_SCORES = {
    "melanoma": lambda seed: RESULTS / "paper002" / f"noise_scores_seed{seed}.npz",
    "seborrheic_keratosis": lambda seed: RESULTS / "label_audit" / f"task2_noise_scores_seed{seed}.npz",
}


def cleanlab_ranking(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """cleanlab's ranking: the issues `find_label_issues` flags (by self-confidence), then the rest by
    its label quality score (lowest first)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    flagged = find_label_issues(labels, pred_probs, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(labels, pred_probs)
    rest = np.setdiff1d(np.arange(len(labels)), flagged)
    return np.concatenate([flagged, rest[np.argsort(quality[rest], kind="stable")]]), len(flagged)


def evaluate_set(x: np.ndarray, noisy, seed: int, weights=None) -> dict[str, Any]:
    """Both methods on one noisy set, from the same 5-fold out-of-sample probabilities."""
    from lesionlab.audit import audit_labels, precision_recall_at_k
    from lesionlab.audit.core import audit_signals

    t0 = time.perf_counter()
    probs, signals = audit_signals(x, noisy.labels, 2, folds=5, seed=seed)
    t_signals = time.perf_counter() - t0
    ids = [str(i) for i in range(len(noisy.labels))]
    flips = [str(i) for i in noisy.flipped_index]
    ours = audit_labels(x, noisy.labels, ids=ids, probs=probs, seed=seed, weights=weights)
    t1 = time.perf_counter()
    order, n_flagged = cleanlab_ranking(noisy.labels, probs.mean(axis=0))
    t_cleanlab = time.perf_counter() - t1
    theirs = precision_recall_at_k([str(i) for i in order], flips)
    return {
        "n_flipped": len(flips),
        "weights": ours.weights,
        "lesionlab": ours.precision_recall_at_k(flips),
        "cleanlab": {**theirs, "n_flagged": int(n_flagged)},
        "signals_alone": {
            name: precision_recall_at_k([str(i) for i in np.argsort(-s, kind="stable")], flips)[
                "precision_at_k"
            ]
            for name, s in signals.items()
        },
        "seconds": {"probs_and_signals": t_signals, "cleanlab": t_cleanlab},
        "_signals": {k: v.tolist() for k, v in signals.items()},
        "_flipped": noisy.flipped_index.tolist(),
    }


def tune(x: np.ndarray, data: Path, ids: list[str], seeds: list[int]) -> dict[str, Any]:
    """Choose the combination weights on task-2 (seborrheic keratosis) noisy sets: never the reported ones.

    Grid: every weight vector over the 4 signals in steps of 0.1 summing to 1; objective: mean
    precision at k over the sets and seeds.
    """
    import itertools

    from lesionlab.audit import SIGNALS, combine

    labels, _ = labels_for(data, ids, "seborrheic_keratosis")
    units = []
    for name in TUNE_SETS:
        for seed in seeds if not name.startswith("ranked_net") else NET_SEEDS:
            row = evaluate_set(x, noise_set(name, labels, x, seed, "seborrheic_keratosis"), seed)
            units.append((name, seed, row))
            print(f"tune {name} seed {seed}: signals alone {row['signals_alone']}", flush=True)
    grid = [w for w in itertools.product(range(11), repeat=len(SIGNALS)) if sum(w) == 10]
    scored = []
    for w in grid:
        weights = dict(zip(SIGNALS, (v / 10 for v in w), strict=True))
        precision = []
        for _, _, row in units:
            signals = {k: np.array(v) for k, v in row["_signals"].items()}
            order = np.argsort(-combine(signals, weights), kind="stable")
            k = len(row["_flipped"])
            precision.append(len(set(order[:k].tolist()) & set(row["_flipped"])) / k)
        scored.append((float(np.mean(precision)), weights))
    scored.sort(key=lambda t: -t[0])
    return {
        "task": "seborrheic_keratosis",
        "sets": TUNE_SETS,
        "seeds": seeds,
        "network_ranked_seeds": NET_SEEDS,
        "best": {"weights": scored[0][1], "mean_precision_at_k": scored[0][0]},
        "top5": [{"weights": w, "mean_precision_at_k": p} for p, w in scored[:5]],
        "cleanlab_mean_precision_at_k": float(np.mean([r["cleanlab"]["precision_at_k"] for *_, r in units])),
        "signals_alone": {
            k: float(np.mean([r["signals_alone"][k] for *_, r in units]))
            for k in units[0][2]["signals_alone"]
        },
    }


# --------------------------------------------------------------------------- LoOP speed
def loop_speed(n: int, seed: int = 0) -> dict[str, Any]:
    """lesionlab's LoOP and PyNomaly's on the same Gaussian data (d = 1,280, k = 10), one thread."""
    from PyNomaly import loop as pynomaly

    from lesionlab.training.local_outliers import local_outlier_probabilities

    x = np.random.default_rng(seed).normal(size=(n, 1280))
    t0 = time.perf_counter()
    ours = local_outlier_probabilities(x, n_neighbors=10, extent=3.0)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = np.asarray(
        pynomaly.LocalOutlierProbability(x, extent=3, n_neighbors=10, use_numba=False)
        .fit()
        .local_outlier_probabilities,
        dtype=float,
    )
    t_theirs = time.perf_counter() - t0
    return {
        "n": n,
        "d": 1280,
        "k": 10,
        "lesionlab_seconds": t_ours,
        "pynomaly_seconds": t_theirs,
        "speedup_vs_pynomaly": t_theirs / t_ours,
        "max_abs_diff": float(np.abs(ours - theirs).max()),
    }


# --------------------------------------------------------------------------- noisy oracle in the loop
NOISY_ORACLE = {"rate": 0.1, "relabel_fraction": 0.1, "epochs": 10, "patience": 3, "rounds": 4}


def noisy_oracle_config(data: Path, out: Path, seeds: list[int], cache: Path, threads: int):
    """ISIC 2017 melanoma, random selection, 10 % start and +10 % per round (the al_baselines protocol with
    fewer epochs to fit the CPU budget), a noisy oracle, and every run twice: with and without the audit."""
    from lesionlab.config import ExperimentConfig, load_config

    return load_config(
        ExperimentConfig,
        {
            "name": "ISIC 2017 melanoma: noisy oracle (10 % wrong answers), with and without the label audit",
            "data": {"source": "isic2017", "root": str(data / "isic2017"), "task": "melanoma"},
            "train": {
                "freeze_stages": 6,
                "num_threads": threads,
                "epochs": NOISY_ORACLE["epochs"],
                "patience": NOISY_ORACLE["patience"],
                "progress": False,
            },
            "experiment": {
                "strategies": ["random"],
                "seeds": seeds,
                "initial": {"kind": "random", "size": 0.1},
                "budget": 0.1,
                "rounds": NOISY_ORACLE["rounds"],
                "oracle": "noisy",
                "oracle_noise": NOISY_ORACLE["rate"],
                "audit": {
                    "every_round": True,
                    "relabel_fraction": NOISY_ORACLE["relabel_fraction"],
                    "compare": True,
                },
            },
            "output": str(out),
            "cache_dir": str(cache),
        },
    )


def noisy_oracle(data: Path, seeds: list[int], cache: Path, threads: int) -> dict[str, Any]:
    from lesionlab.evaluation.report import write_report
    from lesionlab.evaluation.summary import summarize
    from lesionlab.runner.experiment import run_experiment

    out = RESULTS / "label_audit" / "noisy_oracle"
    config = noisy_oracle_config(data, out, seeds, cache, threads)
    results = (
        run_experiment(config, force=False, progress=True) if not (out / "results.json").exists() else None
    )
    results = results or json.loads((out / "results.json").read_text())
    write_report(results, out)
    summary = summarize(results)
    rows = {}
    for name, key in (("random", "without_audit"), ("random+audit", "with_audit")):
        s = summary["strategies"][name]
        runs = [r for r in results["runs"] if r["strategy"] == name]
        wrong = [[rnd.get("wrong_labels") for rnd in r["rounds"]] for r in runs]
        relabeled = [sum(len(rnd.get("relabeled_ids") or []) for rnd in r["rounds"]) for r in runs]
        changed = [sum(len(rnd.get("relabel_changed") or []) for rnd in r["rounds"]) for r in runs]
        rows[key] = {
            "alc": {k: s["alc"][k] for k in ("mean", "se", "n")},
            "alc_per_seed": s["alc"]["per_seed"],
            "annotation_cost": s["annotation_cost"],
            "n_labeled": s["n_labeled"],
            "auc": [{"mean": p["mean"], "se": p["sem"]} for p in s["curves"]["auc"]],
            "wrong_labels_per_seed": wrong,
            "relabeled_per_seed": relabeled,
            "relabel_changed_per_seed": changed,
        }
    return {"settings": NOISY_ORACLE, "seeds": seeds, **rows, "wall_seconds": results.get("wall_seconds")}


# --------------------------------------------------------------------------- results
def _mean(rows: list[dict[str, Any]], method: str, key: str) -> dict[str, float]:
    return summarize_values([{key: r[method][key]} for r in rows], [key])[key]


def _pm(stat: dict[str, float]) -> str:
    """mean ± s.e., or the value alone for one seed."""
    return fmt(stat) if stat.get("n", 0) > 1 else f"{stat['mean']:.3f}"


def write_results(done: dict[str, Any], seeds: list[int]) -> None:
    """results/label_audit.json (the issue's layout, means over seeds) and its markdown."""
    results: dict[str, Any] = {}
    lines = [
        "# Label audit (issue 16): lesionlab vs cleanlab, LoOP speed, the noisy oracle in the loop",
        "",
        "Reproduce: `nice -n 5 python benchmarks/label_audit.py --threads 1 --parts features tune audit"
        " loop_speed` and `--parts noisy_oracle` (see the script's docstring).",
        "",
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
        entry = {
            m: {
                "precision_at_k": _mean(rows, m, "precision_at_k"),
                "recall_at_k": _mean(rows, m, "recall_at_k"),
            }
            for m in ("lesionlab", "cleanlab")
        }
        entry["n_seeds"] = len(rows)
        entry["n_flipped"] = float(np.mean([r["n_flipped"] for r in rows]))
        entry["signals_alone_precision_at_k"] = {
            k: float(np.mean([r["signals_alone"][k] for r in rows])) for k in rows[0]["signals_alone"]
        }
        results[name] = entry
        flagged = np.mean([r["cleanlab"]["n_flagged"] for r in rows])
        lines.append(
            f"| {name} | {entry['n_flipped']:.0f} | {_pm(entry['lesionlab']['precision_at_k'])} | "
            f"{_pm(entry['cleanlab']['precision_at_k'])} | {flagged:.0f} | {len(rows)} |"
        )
    if results:
        won = [
            n
            for n, e in results.items()
            if e["lesionlab"]["precision_at_k"]["mean"] > e["cleanlab"]["precision_at_k"]["mean"]
        ]
        lost = [n for n in results if n not in won]
        lines += [
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
    if "tune" in done:
        t = done["tune"]
        alone = ", ".join(f"{k} {v:.3f}" for k, v in t["signals_alone"].items())
        lines += [
            "",
            f"Combination weights chosen on task 2 (seborrheic keratosis) noisy sets {t['sets']},"
            f" seeds {t['seeds']} (never on the sets above): {t['best']['weights']} (mean precision at k"
            f" there {t['best']['mean_precision_at_k']:.3f};"
            f" cleanlab {t['cleanlab_mean_precision_at_k']:.3f}; each signal alone: {alone}).",
        ]
    speed = {}
    if any(k.startswith("loop_speed/") for k in done):
        lines += [
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
    oracle = done.get("noisy_oracle")
    if oracle:
        lines += [
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
            wrong = [
                next((x for x in reversed(w) if x is not None), None) for w in r["wrong_labels_per_seed"]
            ]
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
    payload = {
        "results": results,
        "loop_speed": speed,
        "noisy_oracle": oracle,
        "tune": done.get("tune"),
        "config": {
            "views": VIEWS,
            "tune_sets": TUNE_SETS,
            "network_ranked_seeds": NET_SEEDS,
            "noisy_oracle": NOISY_ORACLE,
        },
        "seeds": seeds,
        "raw": {k: v for k, v in done.items() if k.startswith("audit/")},
    }
    write_outputs(RESULTS / "label_audit.json", payload, lines)


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--parts", nargs="+", default=["features", "tune", "audit", "loop_speed"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    done: dict[str, Any] = load_partial(PARTIAL)
    if {"features", "tune", "audit"} & set(args.parts):
        ids, x = features(args.data, args.cache_dir)
        print(f"features: {x.shape}", flush=True)
    if "tune" in args.parts and "tune" not in done:
        for seed in NET_SEEDS:
            task2_network_scores(args.data, args.cache_dir, seed, args.threads)
        done = save_partial(PARTIAL, "tune", tune(x, args.data, ids, args.seeds))
        print(json.dumps(done["tune"]["best"]), flush=True)
    if "audit" in args.parts:
        labels, _ = labels_for(args.data, ids, "melanoma")
        from lesionlab.audit import DEFAULT_WEIGHTS

        weights = done["tune"]["best"]["weights"] if "tune" in done else DEFAULT_WEIGHTS
        if weights != DEFAULT_WEIGHTS:
            print(
                f"note: the tuned weights {weights} are not lesionlab's defaults {DEFAULT_WEIGHTS}",
                flush=True,
            )
        sets = ["ranked_0.2", "ranked_0.4", "uniform_0.2"]
        for name in sets:
            for seed in args.seeds:
                key = f"audit/{name}/seed{seed}"
                if key in done:
                    continue
                row = evaluate_set(x, noise_set(name, labels, x, seed, "melanoma"), seed, weights)
                row = {k: v for k, v in row.items() if not k.startswith("_")}
                done = save_partial(PARTIAL, key, row)
                print(key, row["lesionlab"]["precision_at_k"], row["cleanlab"]["precision_at_k"], flush=True)
        for seed in args.seeds:
            key = f"audit/ranked_net_0.2/seed{seed}"
            if (RESULTS / "paper002" / f"noise_scores_seed{seed}.npz").exists():
                for rate in ("0.2", "0.4"):
                    key = f"audit/ranked_net_{rate}/seed{seed}"
                    if key in done:
                        continue
                    noisy = noise_set(f"ranked_net_{rate}", labels, x, seed, "melanoma")
                    row = evaluate_set(x, noisy, seed, weights)
                    row = {k: v for k, v in row.items() if not k.startswith("_")}
                    done = save_partial(PARTIAL, key, row)
                    print(
                        key, row["lesionlab"]["precision_at_k"], row["cleanlab"]["precision_at_k"], flush=True
                    )

    if "loop_speed" in args.parts:
        for n in (5000, 20000):
            if f"loop_speed/{n}" not in done:
                done = save_partial(PARTIAL, f"loop_speed/{n}", loop_speed(n))
                print(done[f"loop_speed/{n}"], flush=True)
    if "noisy_oracle" in args.parts and "noisy_oracle" not in done:
        row = noisy_oracle(args.data, args.seeds, args.cache_dir, args.threads)
        done = save_partial(PARTIAL, "noisy_oracle", row)
    write_results(load_partial(PARTIAL), args.seeds)


if __name__ == "__main__":
    main()
