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

from common import RESULTS, base_parser, load_partial, save_partial
from label_audit_oracle import NOISY_ORACLE, noisy_oracle
from label_audit_report import write_results
from loop_speed import bench_versions

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


# What the results file records as the configuration of this benchmark (with the versions of the two
# reference packages, which `versions()` does not list).
CONFIG = {
    "views": VIEWS,
    "tune_sets": TUNE_SETS,
    "network_ranked_seeds": NET_SEEDS,
    "noisy_oracle": NOISY_ORACLE,
    "versions": bench_versions(),
}


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
    write_results(load_partial(PARTIAL), args.seeds, CONFIG)


if __name__ == "__main__":
    main()
