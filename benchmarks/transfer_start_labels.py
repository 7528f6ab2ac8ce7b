"""Which labels train a clinic's model better: version 0's own picks or coverage picks? (issue 33, section 1)

Why `start.coverage_share` exists. For each clinic, the labelled sets that the `scratch` arm (k-center
coverage while it has no model, then its own entropy) and the `from_run` arm (version 0's entropy from
round 1) had revealed at 40 and 200 labels, seeds 0-2, are read from the project databases of the run
before the share (`KEPT`, in proposal order). On each set two models are trained (from ImageNet, and
fine-tuned from version 0), alone and averaged with version 0 (probabilities, logits, ranks). Every
figure is melanoma AUC on 600 held-out pool images that no unit revealed (fixed random draw): the test
images are never read.

    OMP_NUM_THREADS=1 python benchmarks/transfer_start_labels.py --threads 1 --clinic ham10000_from_isic2017

Appends one JSON line per labelled set to results/transfer_start_labels.jsonl and writes the mean table
to results/transfer_start_labels.md (`--summarize` only rewrites the table).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from common import RESULTS, base_parser
from lesionlab.data.records import Record
from transfer_start import CLINICS, open_unit, pool_and_test
from transfer_start_diagnose import HELD_OUT, revealed, trainer_for

KEPT = "old_dbs_before_mix"
OUT = RESULTS / "transfer_start_labels.jsonl"
ARMS = ("scratch", "from_run")
STARTS = {"imagenet": "from ImageNet", "v0": "fine-tuned from version 0"}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def clinic_rows(clinic: str, args) -> None:
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    work = args.cache_dir / "benchmarks" / "transfer_start"
    pool, truth, _ = pool_and_test(clinic, args.data, work)
    kept = work / KEPT
    sets = {(a, s): revealed(kept / f"{clinic}_{a}_s{s}.db") for a in ARMS for s in (0, 1, 2)}
    used = set().union(*sets.values())
    for a in ARMS:  # the images revealed before the start choice too
        for s in (0, 1, 2):
            used |= set(revealed(work / "old_dbs_before_start_choice" / f"{clinic}_{a}_s{s}.db"))
    rest = sorted(set(truth) - used)
    chosen = np.random.default_rng(0).choice(len(rest), HELD_OUT, replace=False)
    tmp = Path(tempfile.mkdtemp(prefix="labels_"))
    project = open_unit(clinic, "from_run", 0, pool, tmp / "p", args.cache_dir, args.cache_dir / "benchmarks")
    by_id = {r.id: r for r in project.records()}
    held = [Record(rest[i], by_id[rest[i]].image_path, truth[rest[i]]) for i in sorted(chosen)]
    y = np.array([r.label for r in held])
    v0 = trainer_for(project, "v0", None, 0).predict(held)[:, 1]
    _append({"clinic": clinic, "v0_as_is": roc_auc_score(y, v0)})
    for n in (40, 200):
        for (arm, seed), ids in sets.items():
            labelled = [Record(i, by_id[i].image_path, truth[i]) for i in ids[:n]]
            row = {
                "clinic": clinic,
                "n": n,
                "arm": arm,
                "seed": seed,
                "melanomas": sum(r.label for r in labelled),
            }
            for start in STARTS:
                trainer = trainer_for(project, start, {}, seed + 1)
                trainer.fit(labelled, (), ["other", "melanoma"])
                q = trainer.predict(held)[:, 1]
                row[start] = roc_auc_score(y, q)
                row[f"{start}+v0 prob"] = roc_auc_score(y, (q + v0) / 2)
                row[f"{start}+v0 logit"] = roc_auc_score(y, _logit(q) + _logit(v0))
                row[f"{start}+v0 rank"] = roc_auc_score(y, rankdata(q) + rankdata(v0))
            _append(row)
    project.close()


def _append(row: dict) -> None:
    clean = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
    print(json.dumps(clean), flush=True)
    with open(OUT, "a") as fh:
        fh.write(json.dumps(clean) + "\n")


def table() -> list[str]:
    rows = [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]
    lines = [
        "# Which labels train better: `python benchmarks/transfer_start_labels.py`",
        "",
        "Melanoma AUC on 600 held-out pool images (never the test images), mean over seeds 0-2, of models "
        "trained on the labels each arm had revealed before `start.coverage_share` existed. Measured "
        "at 329be85 (two processes, one per clinic, about 8 minutes each).",
        "",
        "| clinic | labels | labels of arm | melanomas | from ImageNet | fine-tuned from v0 | v0 as is |",
        "|---|---|---|---|---|---|---|",
    ]
    for clinic in CLINICS:
        as_is = [r["v0_as_is"] for r in rows if r["clinic"] == clinic and "v0_as_is" in r]
        for n in (40, 200):
            for arm in ARMS:
                sel = [
                    r for r in rows if r.get("clinic") == clinic and r.get("n") == n and r.get("arm") == arm
                ]
                if not sel or not as_is:
                    continue
                m = {k: np.mean([r[k] for r in sel]) for k in ("melanomas", "imagenet", "v0")}
                lines.append(
                    f"| {clinic} | {n} | {arm} | {m['melanomas']:.1f} | {m['imagenet']:.3f} | {m['v0']:.3f} "
                    f"| {as_is[-1]:.3f} |"
                )
    return lines


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--clinic", choices=CLINICS)
    parser.add_argument("--summarize", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if not args.summarize:
        for clinic in [args.clinic] if args.clinic else CLINICS:
            clinic_rows(clinic, args)
    OUT.with_suffix(".md").write_text("\n".join(table()) + "\n")


if __name__ == "__main__":
    main()
