"""The experiment runner behind `lesionlab run` and `lesionlab demo`.

For every seed and strategy: start from the initial labelled set, then each round train a model on the
labels bought so far, evaluate it, collect the strategy's evidence over the unlabelled pool, select a
budget and reveal those labels (the simulated oracle). The pool state is saved atomically after every
round, with the model when the learning strategy continues from it, so a killed run resumes after its
last finished round and ends with exactly the selections and numbers of an uninterrupted run: every
random draw is derived from (seed, round), never from a generator that lives across rounds.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.config import ExperimentConfig
from lesionlab.data.cache import default_cache_dir
from lesionlab.data.loading import load_dataset
from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.errors import ConfigError, DataError
from lesionlab.evaluation.statistics import round_gain_significant
from lesionlab.io import write_json
from lesionlab.locking import output_lock
from lesionlab.progress import eta, log_line
from lesionlab.runner import audit_step, checks
from lesionlab.runner.checkpoints import RoundWeights, load_weights, save_weights
from lesionlab.runner.first_round import FirstRound
from lesionlab.runner.learning import fine_tuned_before, pseudo_labelled, round_lr, training_set
from lesionlab.runner.oracles import Oracle, build_oracle
from lesionlab.runner.resume import check_resume, fingerprint
from lesionlab.selection.base import Strategy
from lesionlab.selection.evidence import EvidenceSettings, collect_evidence, heads_for
from lesionlab.tasks import get_task
from lesionlab.training.factory import build_model, build_trainer
from lesionlab.training.trainer import Trainer
from lesionlab.versions import versions

RoundCallback = Callable[[str, int, int], None]


class Experiment:
    """One configured experiment over one dataset; `run()` executes or resumes every (strategy, seed)."""

    def __init__(self, config: ExperimentConfig, force: bool = False, progress: bool = True) -> None:
        """Validate config and data (cheap, `runner.checks`) before any training; `progress` shows bars on
        a terminal."""
        self.config = config
        exp = config.experiment
        self.strategies, self.initial_strategy = checks.build_strategies(config)
        self.out = Path(config.output)
        if (self.out / "results.json").exists() and not force:
            raise ConfigError(
                f"{self.out} already holds a finished run; pass --force to overwrite or choose another output"
            )
        self.progress = progress
        self._started, self._rounds_done = time.perf_counter(), 0  # for the per-round ETA
        self.task = get_task(config.task)
        self.dataset: LabeledDataset = load_dataset(config)  # type: ignore[arg-type]
        self.pool = self.dataset.split("train")
        # Blank labels (segmentation: missing masks) are allowed outside the pool; such images are not scored.
        # The images that pick each round's epoch must not be the ones the curves are measured on: with
        # evaluate_on val, every round trains its full epochs and keeps the last.
        self.val = (
            []
            if exp.evaluate_on == "val"
            else [r for r in self.dataset.split("val") if self.task.has_target(r)]
        )
        self.eval_records = [r for r in self.dataset.split(exp.evaluate_on) if self.task.has_target(r)]
        checks.check_data(self.dataset, self.pool, self.eval_records, self.task, exp.evaluate_on)
        checks.check_options(config, self.task)
        self.budget = checks.amount(exp.budget, len(self.pool), "experiment.budget")
        checks.check_budget(config, self.budget)
        self.n_initial = (
            0 if exp.initial.kind == "empty" else checks.amount(exp.initial.size, len(self.pool), "initial")
        )
        self.metric = checks.primary_metric(config, self.dataset.num_classes)
        checks.check_metrics(config, self.task, self.dataset, self.eval_records, self.metric)
        checks.check_loss(config, self.task, self.dataset.num_classes)
        self.by_id = {r.id: r for r in self.pool}
        self.cache_dir = config.cache_dir or default_cache_dir()
        self.evidence_settings = EvidenceSettings(
            mc_samples=exp.mc_samples,
            scoring=exp.pool_scoring,
            workdir=self.out / "state",
            image_options={
                "cache_dir": self.cache_dir,
                "preprocessing": config.train.preprocessing,
                "resize": config.train.resize,
            },
        )
        if exp.stopping == "paper000" and not self.val:
            log_line(
                "warning: stopping: paper000 tests each round's gain on the validation split, and "
                f"{self.dataset.name} has none: every run goes the full {exp.rounds} rounds"
            )
        if force:
            # Only now that config and data are known to be usable is the old run removed.
            shutil.rmtree(self.out / "state", ignore_errors=True)
            (self.out / "results.json").unlink(missing_ok=True)
        try:
            check_resume(self.out / "state", fingerprint(config, self.dataset), force)
        except OSError as exc:
            raise ConfigError(
                f"cannot write to the output folder {self.out} ({exc.strerror or exc}): "
                "choose a writable `output`"
            ) from None

    @staticmethod
    def _hidden(records: list[Record]) -> list[Record]:
        """Records as a strategy may see them before they are bought: no label, no mask."""
        return [replace(r, label=None, mask_path=None) for r in records]

    # ------------------------------------------------------------------ helpers
    def _state_path(self, strategy: str, seed: int) -> Path:
        return self.out / "state" / f"{strategy}_seed{seed}.json"

    def _weights(self, strategy: str, seed: int) -> RoundWeights:
        return RoundWeights(self.out / "state", strategy, seed)

    def _new_model(self, seed: int):
        return build_model(self.task, self.config.model, self.dataset.num_classes, seed)

    def _trainer(
        self,
        model,
        seed: int,
        round_: int,
        strategy: Strategy | None = None,
        lr: float | None = None,
        continues: bool = False,
    ) -> Trainer:
        """A trainer for this (seed, round), with the auxiliary heads the strategy's evidence needs.

        `continues`: the model goes on from an earlier round's fine-tuning, so it takes the shorter
        `round_epochs` schedule (paper 001); a fresh model (retrain, a committee member, the first
        fine-tuning after an empty start) trains for `train.epochs`.
        """
        cfg = self.config.train.updated(
            seed=seed * 1000 + round_, progress=self.progress, lr=lr or self.config.train.lr
        )
        later = self.config.experiment.round_epochs
        if later is not None and continues:
            cfg = cfg.updated(epochs=later)
        heads = heads_for(strategy, model) if strategy is not None else []
        return build_trainer(self.task, model, cfg, cache_dir=self.cache_dir, aux_heads=heads)

    def oracle(self, seed: int) -> Oracle:
        """Who answers this seed's label requests: the data set's labels, or a noisy expert."""
        exp = self.config.experiment
        classes = self.dataset.classes
        return build_oracle(exp.oracle, self.pool, classes, exp.oracle_noise, exp.oracle_difficulty, seed)

    def _buy(self, state: PoolState, oracle: Oracle, ids: list[str]) -> None:
        answers = oracle.query(ids)
        missing = [i for i in ids if i not in answers]
        if missing:
            raise DataError(f"the oracle gave no label for {len(missing)} id(s), e.g. {missing[:3]}")
        state.buy(ids, answers)

    def _initial_ids(self, seed: int) -> list[str]:
        exp = self.config.experiment
        if exp.initial.kind == "empty":
            return []
        if exp.initial.kind == "random":
            # The same initial set for every strategy of a seed: comparisons are paired.
            rng = np.random.default_rng([seed, 0])
            picked = rng.choice(len(self.pool), size=self.n_initial, replace=False)
            return [self.pool[i].id for i in sorted(picked)]
        hidden = self._hidden(self.pool)
        evidence = collect_evidence(
            self.initial_strategy, None, hidden, pool=hidden, settings=self.evidence_settings
        )
        return list(
            self.initial_strategy.select(evidence, self.n_initial, np.random.default_rng([seed, 0])).ids
        )

    # ------------------------------------------------------------------ one run
    def run_one(self, strategy_name: str, seed: int, on_round: RoundCallback | None = None) -> PoolState:
        exp = self.config.experiment
        strategy = self.strategies[audit_step.base_strategy(strategy_name)]
        oracle = self.oracle(seed)
        path = self._state_path(strategy_name, seed)
        if path.exists():
            state = PoolState.load(path)
        else:
            state = PoolState(
                pool_ids=[r.id for r in self.pool],
                labels={},
                held_out=[r.id for r in self.dataset.records if r.split != "train"],
                history=[],
            )
            self._buy(state, oracle, self._initial_ids(seed))
        if state.history and state.history[-1].get("finished"):
            return state
        continuing = exp.learning != "retrain"
        model = self._new_model(seed)
        if continuing and state.history:
            saved = self._weights(strategy_name, seed).model(state.history[-1]["round"])
            load_weights(model, saved, strategy_name, seed)
        previous_correct = state.history[-1].get("val_correct") if state.history else None

        while True:
            round_ = state.n_rounds
            if not continuing:
                model = self._new_model(seed)
            lr = round_lr(self.config.train.lr, exp.learning, state.history, exp.continual_lr_scale)
            continues = continuing and fine_tuned_before(state.history)
            trainer = self._trainer(model, seed, round_, strategy, lr=lr, continues=continues)
            train_records = training_set(exp.learning, state, self.by_id, trainer if continuing else None)
            train_records += pseudo_labelled(state, self.by_id)  # CEAL: last round's trusted predictions
            entry: dict[str, Any] = {"round": round_, "n_labeled": len(state.labels)}
            entry["fraction"] = len(state.labels) / len(self.pool)
            entry["n_trained_on"] = len(train_records)
            entry["annotation_cost"] = audit_step.annotation_cost(state)  # labels + re-labels paid so far
            entry["lr"] = lr
            bought = Counter(self.dataset.classes[label] for label in state.labels.values())
            entry["labeled_class_counts"] = {c: bought.get(c, 0) for c in self.dataset.classes}
            if train_records:
                entry.update(self._fit(trainer, train_records, seed, first=round_ == 0))
            else:  # empty start: nothing to train on yet
                entry.update(metrics=None, train_seconds=0.0, train_cpu_seconds=0.0)

            stop_reason = self._stop_reason(state, entry, previous_correct)
            if stop_reason is None:
                t1, c1 = time.perf_counter(), time.process_time()
                # Evidence sees what was bought (a noisy oracle's answers) and nothing of the rest.
                unlabeled = self._hidden([self.by_id[i] for i in state.unlabeled_ids()])
                labeled = [replace(self.by_id[i], label=state.labels[i]) for i in state.labeled_ids()]
                settings = replace(
                    self.evidence_settings,
                    ensemble=partial(
                        self._ensemble, trainer, train_records, strategy_name, seed, round_, lr, continues
                    ),
                )
                pool = self._hidden(self.pool)  # in pool order: pool-level features are fitted on it
                evidence = collect_evidence(strategy, trainer, unlabeled, labeled, pool, settings)
                n_new, n_relabel = audit_step.split_budget(
                    self.budget, exp.audit.relabel_fraction, strategy_name
                )
                selection = strategy.select(
                    evidence, min(n_new, len(unlabeled)), np.random.default_rng([seed, round_ + 1])
                )
                new_ids = [str(i) for i in selection.ids]
                self._buy(state, oracle, new_ids)
                if selection.pseudo_ids:  # written once, kept with the state so a resumed run reads them
                    folder = self.out / "state" / "pseudo" / f"{strategy_name}_seed{seed}_round{round_}"
                    chosen = [self.by_id[i] for i in selection.pseudo_ids]
                    entry["pseudo_masks"] = trainer.pseudo_masks(chosen, folder)
                if exp.audit.every_round:
                    entry.update(self._audit(state, oracle, seed, round_, n_relabel))
                counts = Counter(self.dataset.classes[state.labels[i]] for i in new_ids)
                entry.update(
                    selection_seconds=time.perf_counter() - t1,
                    selection_cpu_seconds=time.process_time() - c1,
                    new_ids=new_ids,
                    new_scores=[float(s) for s in selection.scores],
                    new_class_counts={c: counts.get(c, 0) for c in self.dataset.classes},
                    # The images (classification) or mask overlays (segmentation) the report shows.
                    top_images=trainer.gallery_images(
                        [self.by_id[i] for i in new_ids[: exp.gallery_size]],
                        self.out / "overlays" / f"{strategy_name}_seed{seed}_round{round_}",
                    ),
                )
            else:
                entry.update(finished=True, stop_reason=stop_reason, selection_seconds=0.0, new_ids=[])
            state.history.append(entry)
            if continuing:
                # The model of this round first, under its own name; the state, saved next, is what makes
                # it current. A kill in between resumes from the previous round with the previous model.
                save_weights(model, self._weights(strategy_name, seed).model(round_))
            state.save(path)
            if continuing and round_ > 0:
                self._weights(strategy_name, seed).drop_before(round_)
            previous_correct = entry.get("val_correct")
            self._log_round(strategy_name, seed, entry)
            if on_round is not None:
                on_round(strategy_name, seed, round_)
            if stop_reason is not None:
                return state

    def _log_round(self, strategy: str, seed: int, entry: dict) -> None:
        """One line per finished round on stderr: labels, the metric, time, and an ETA for the whole run."""
        if not self.progress:
            return
        exp = self.config.experiment
        self._rounds_done += 1
        elapsed = time.perf_counter() - self._started
        total = len(exp.seeds) * len(audit_step.run_names(exp)) * (exp.rounds + 1)
        score = (entry.get("metrics") or {}).get(self.metric)
        shown = f"{self.metric} {score:.3f}" if isinstance(score, float) else "no model yet"
        end = f", stopped: {entry['stop_reason']}" if entry.get("finished") else ""
        print(
            f"  {strategy} seed {seed}: round {entry['round']}/{exp.rounds}, {entry['n_labeled']} labels, "
            f"{exp.evaluate_on} {shown}, {entry['train_seconds'] + entry['selection_seconds']:.0f} s, "
            f"{eta(self._rounds_done, max(total, self._rounds_done), elapsed)}{end}",
            file=sys.stderr,
            flush=True,
        )

    def _stop_reason(self, state: PoolState, entry: dict, previous_correct: list[int] | None) -> str | None:
        exp = self.config.experiment
        significant = True
        if previous_correct is not None and "val_correct" in entry:
            # Recorded every round, so the round where paper 000's rule would stop is known for any run.
            significant, p = round_gain_significant(
                np.array(previous_correct), np.array(entry["val_correct"]), alpha=exp.stopping_alpha
            )
            entry["stop_test_p"] = p
        if not state.unlabeled_ids():
            return "pool exhausted"
        if state.n_rounds >= exp.rounds:
            return f"{exp.rounds} rounds done"
        if exp.stopping == "paper000" and not significant:
            return (
                f"no significant gain on val (McNemar p = {entry['stop_test_p']:.3f} > {exp.stopping_alpha})"
            )
        return None

    def _audit(self, state: PoolState, oracle: Oracle, seed: int, round_: int, n_relabel: int) -> dict:
        """Audit the bought labels and re-label the most suspect (`runner.audit_step`); features are of the
        untrained backbone, computed once per image for every run of this experiment."""
        audit_step.check_oracle(oracle)
        if getattr(self, "_audit_features", None) is None:
            from lesionlab.audit.features import backbone_features

            m, train = self.config.model, self.config.train.updated(progress=self.progress, loss="auto")
            embed = partial(backbone_features, backbone=m.backbone, weights=m.weights, train=train)
            self._audit_features = audit_step.FeatureMemo(
                partial(embed, cache_dir=self.cache_dir), self.config.experiment.audit.views
            )
        folds = self.config.experiment.audit.folds
        n = self.dataset.num_classes
        return audit_step.relabel_round(
            state, oracle, self.by_id, self._audit_features, n, n_relabel, seed, round_, folds
        )

    def _fit(self, trainer: Trainer, train_records: list[Record], seed: int, first: bool) -> dict[str, Any]:
        """Fit and score the round's model; the first round's fit is shared by a seed's strategies.

        Its seconds are the fit's own also when it was loaded (`shared_load_seconds` beside), so a row's
        cost does not depend on which unit of its seed happened to run first."""
        # CPU seconds beside the wall seconds: on a shared machine the wall clock measures the neighbours.
        t0, c0 = time.perf_counter(), time.process_time()
        shared = None
        if first and len(audit_step.run_names(self.config.experiment)) > 1:  # someone to share it with
            inputs = {
                "run": fingerprint(self.config, self.dataset),
                "train": trainer.config.model_dump(mode="json", exclude={"progress", "num_threads"}),
                "evaluated_on": sorted(r.id for r in self.eval_records),
                "device": str(trainer.device),
            }
            shared = FirstRound.of(self.out / "state", seed, train_records, self.val, inputs)
            if not trainer.aux_heads and (entry := shared.load(trainer.model)) is not None:
                entry["shared_first_round"] = True
                entry["shared_load_seconds"] = time.perf_counter() - t0
                return entry
        fit = trainer.fit(train_records, self.val, self.dataset.classes)
        entry = {
            "best_epoch": fit.best_epoch,
            "metrics": trainer.evaluate(self.eval_records, self.dataset.classes),
        }
        if self.val:
            entry["val_correct"] = trainer.correct(self.val).tolist()
        entry["train_seconds"] = time.perf_counter() - t0
        entry["train_cpu_seconds"] = time.process_time() - c0
        if shared is not None:
            shared.save(trainer.model, entry)
        return entry

    def _ensemble(
        self,
        trainer: Trainer,
        train_records: list[Record],
        strategy_name: str,
        seed: int,
        round_: int,
        lr: float,
        continues: bool,
    ) -> list[Trainer]:
        """The current model plus `ensemble_size - 1` members on the same labels, each with its own seed.

        `ensemble_members: fresh` trains every member afresh for `train.epochs` (Beluch et al.);
        `continued` fine-tunes each member on from its previous round whenever the model `continues`
        (same lr, `round_epochs` if set), and keeps it under `state/` (written before the round's state,
        so a resumed round finds the previous members).
        """
        members = [trainer]
        continued = self.config.experiment.ensemble_members == "continued"
        earlier = continued and continues  # as the model: not the first fit after an empty start
        for k in range(1, self.config.experiment.ensemble_size):
            member_seed = seed + 7919 * k
            model = self._new_model(member_seed)
            if earlier:
                previous = self._weights(strategy_name, seed).member(k, round_ - 1)
                load_weights(model, previous, strategy_name, seed)
            member = self._trainer(model, member_seed, round_, lr=lr if earlier else None, continues=earlier)
            member.fit(train_records, self.val, self.dataset.classes)
            if continued:
                save_weights(model, self._weights(strategy_name, seed).member(k, round_))
            members.append(member)
        return members

    # ------------------------------------------------------------------ all runs
    def units(self) -> list[tuple[str, int]]:
        """Every (strategy, seed) unit `run_one` runs, in the serial order (and the order of `runs`)."""
        exp = self.config.experiment
        return [(name, seed) for seed in exp.seeds for name in audit_step.run_names(exp)]

    def run(self, on_round: RoundCallback | None = None, engine: Any = None) -> dict[str, Any]:
        """Every unit, one after the other here, or by `engine` (`runner.engines.Engine`: processes, Ray)."""
        exp = self.config.experiment
        t0 = time.perf_counter()
        self._started, self._rounds_done = t0, 0
        if engine is None:
            states = {unit: self.run_one(*unit, on_round) for unit in self.units()}
        else:
            states = engine.run(self, self.units())
        runs = [
            {"strategy": name, "seed": seed, "rounds": _public_rounds(states[name, seed].history)}
            for name, seed in self.units()
        ]
        results = {
            "name": self.config.name,
            "metric": self.metric,
            "classes": self.dataset.classes,
            "task": self.task.name,
            # Binary metrics (sensitivity, AP, ...) describe class 1.
            "positive_class": self.dataset.positive_class,
            "positive_guessed": self.dataset.positive_guessed,
            "pool_size": len(self.pool),
            "n_eval": len(self.eval_records),
            "evaluated_on": exp.evaluate_on,
            "oracle": exp.oracle,
            "full_data": exp.full_data,
            "runs": runs,
            "config": self.config.model_dump(mode="json"),
            "versions": versions(),
            "wall_seconds": time.perf_counter()
            - t0,  # of this invocation (a resumed run counts only its part)
        }
        write_json(self.out / "results.json", results)
        return results


def _public_rounds(history: list[dict]) -> list[dict]:
    """History without the per-image validation correctness (kept in the state for the stopping rule)."""
    return [{k: v for k, v in entry.items() if k != "val_correct"} for entry in history if entry["metrics"]]


def run_experiment(
    config: ExperimentConfig,
    force: bool = False,
    progress: bool = True,
    on_round: RoundCallback | None = None,
    engine: Any = None,
) -> dict[str, Any]:
    """Run (or resume) every strategy and seed of `config`; write `results.json` in its output folder.
    `engine` (`runner.engines.Engine`) runs the units in worker processes or on Ray; None: here, in turn.
    Another process writing the same output folder refuses to start (`locking.output_lock`)."""
    with output_lock(config.output):
        return Experiment(config, force=force, progress=progress).run(on_round, engine)
