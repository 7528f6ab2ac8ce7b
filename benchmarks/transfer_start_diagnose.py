"""Why does fine-tuning from a run's model (version 0) barely move in `transfer_start`? (issue 33, section 1)

Criterion, fixed before any figure was read: for each clinic, the labelled sets the `from_run` arm had
revealed at 40 and at 200 labels (seeds 0-2, read from the project databases of the benchmark run before
the start choice, `KEPT`, in proposal order) are trained on with each setting below, and each model is
scored by melanoma AUC on 600 held-out pool images (the clinic's images that no unit of that clinic
revealed; fixed random draw). A setting is judged by its mean held-out AUC; the test AUC is printed
beside it only to report, never to choose.

Settings: version 0 as is; fine-tuned from version 0 (lr 1e-4 and 1e-3, 20 and 100 epochs); from ImageNet
(lr 1e-4 and 1e-3). All at the benchmark's CPU fast path (stages 0-5 frozen, 224 px, one view), and two
with stage 5 trained too (`freeze_stages: 5`, what the ISIC 2017 run trained).

    OMP_NUM_THREADS=1 python benchmarks/transfer_start_diagnose.py --threads 1
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from common import RESULTS, base_parser
from lesionlab.data.records import Record
from transfer_start import CLINICS, SETTINGS, open_unit, pool_and_test

SETTINGS_TRIED = {
    "v0 as is": ("v0", None),
    "v0 ft lr1e-4 e20": ("v0", {"lr": 1e-4, "epochs": 20}),
    "v0 ft lr1e-3 e20": ("v0", {"lr": 1e-3, "epochs": 20}),
    "v0 ft lr1e-4 e100": ("v0", {"lr": 1e-4, "epochs": 100}),
    "imagenet lr1e-4 e20": ("imagenet", {"lr": 1e-4, "epochs": 20}),
    "imagenet lr1e-3 e20": ("imagenet", {"lr": 1e-3, "epochs": 20}),
    # the ISIC 2017 run trained stage 5 too (its freeze_stages 5): train it here as well
    "v0 ft freeze5 lr1e-4 e20": ("v0", {"lr": 1e-4, "epochs": 20, "freeze_stages": 5}),
    "imagenet freeze5 lr1e-4 e20": ("imagenet", {"lr": 1e-4, "epochs": 20, "freeze_stages": 5}),
}
HELD_OUT = 600
# The project databases of the run before the start choice (copied from `projects/` before the rerun).
KEPT = "old_dbs_before_start_choice"


def revealed(db: Path) -> list[str]:
    """The image ids a kept project revealed, in the order they were labelled."""
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "select i.image_id from annotations a join images i on a.image_key = i.key order by a.id"
        ).fetchall()
    return [r[0] for r in rows]


def trainer_for(project, start: str, overrides: dict | None, seed: int):
    from lesionlab.config import ModelConfig
    from lesionlab.tasks import get_task
    from lesionlab.training.factory import build_model, build_trainer

    cfg = project.config
    weights = str(project.dir / cfg.start.checkpoint) if start == "v0" else cfg.weights
    model_cfg = ModelConfig(backbone=cfg.backbone, weights=weights, dropout=cfg.dropout)
    model = build_model(get_task("classification"), model_cfg, 2, seed=seed)
    train = cfg.train.updated(seed=seed, progress=False, **(overrides or {}))
    return build_trainer(get_task("classification"), model, train, cache_dir=project.cache_dir)


def auc(trainer, records: list[Record]) -> float:
    from sklearn.metrics import roc_auc_score

    p = trainer.predict(records)[:, 1]
    return float(roc_auc_score([r.label for r in records], p))


def clinic_rows(clinic: str, args) -> list[dict]:
    work = args.cache_dir / "benchmarks" / "transfer_start"
    pool, truth, test = pool_and_test(clinic, args.data, work)
    kept = work / KEPT
    sets = {s: revealed(kept / f"{clinic}_from_run_s{s}.db") for s in (0, 1, 2)}
    used = set()
    for arm in ("from_run", "scratch"):
        for s in (0, 1, 2):
            used |= set(revealed(kept / f"{clinic}_{arm}_s{s}.db"))
    rest = sorted(set(truth) - used)
    chosen = np.random.default_rng(0).choice(len(rest), HELD_OUT, replace=False)
    tmp = Path(tempfile.mkdtemp(prefix="diag_"))
    project = open_unit(clinic, "from_run", 0, pool, tmp / "p", args.cache_dir, args.cache_dir / "benchmarks")
    by_id = {r.id: r for r in project.records()}
    held = [Record(rest[i], by_id[rest[i]].image_path, truth[rest[i]]) for i in sorted(chosen)]
    rows = []
    for n in (40, 200):
        for s, ids in sets.items():
            labelled = [Record(i, by_id[i].image_path, truth[i]) for i in ids[:n]]
            for name, (start, overrides) in SETTINGS_TRIED.items():
                trainer = trainer_for(project, start, overrides, seed=s + 1)
                if overrides is not None:
                    trainer.fit(labelled, (), ["other", "melanoma"])
                row = {"clinic": clinic, "n": n, "seed": s, "setting": name}
                row.update(held_out=auc(trainer, held), test=auc(trainer, test))
                print(json.dumps(row), flush=True)
                rows.append(row)
    project.close()
    return rows


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--clinics", nargs="*", default=list(CLINICS))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    assert SETTINGS["freeze_stages"] == 6
    rows = [r for c in args.clinics for r in clinic_rows(c, args)]
    out = RESULTS / "transfer_start_diagnose.json"
    out.write_text(json.dumps(rows, indent=1))
    lines = ["| clinic | labels | setting | held-out pool AUC | test AUC |", "|---|---|---|---|---|"]
    for c in args.clinics:
        for n in (40, 200):
            for name in SETTINGS_TRIED:
                sel = [r for r in rows if r["clinic"] == c and r["n"] == n and r["setting"] == name]
                h, t = np.mean([r["held_out"] for r in sel]), np.mean([r["test"] for r in sel])
                lines.append(f"| {c} | {n} | {name} | {h:.3f} | {t:.3f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
