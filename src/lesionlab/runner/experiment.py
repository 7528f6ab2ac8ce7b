"""The experiment runner behind `lesionlab run` and `lesionlab demo`.

For every seed and strategy: start from the initial labelled set, then each round train a model on the
labels bought so far, evaluate it, collect the strategy's evidence over the unlabelled pool, select a
budget and reveal those labels (the simulated oracle). The pool state is saved atomically after every
round, with the model when the learning strategy continues from it, so a killed run resumes after its
last finished round and ends with exactly the selections and numbers of an uninterrupted run: every
random draw is derived from (seed, round), never from a generator that lives across rounds.

`run_one` reads as the steps of a round, each a method: `_start_round` (model, learning rate, training
set), `_fit_round` and `_evaluate_round`, the stopping rule (`runner.stopping`), `_collect_evidence`,
`_select`, `_buy`, `_pseudo_label`, `_audit` and `_checkpoint`. What a round saves is a `RoundRecord`
(`runner.rounds`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
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
from lesionlab.errors import DataError
from lesionlab.io import write_json
from lesionlab.locking import output_lock
from lesionlab.progress import log_line
from lesionlab.runner import audit_step, checks
from lesionlab.runner.checkpoints import RoundWeights, load_weights, save_weights
from lesionlab.runner.first_round import FirstRound
from lesionlab.runner.initial_set import initial_ids
from lesionlab.runner.learning import fine_tuned_before, pseudo_labelled, round_lr, training_set
from lesionlab.runner.oracles import Oracle, build_oracle
from lesionlab.runner.output_folder import prepare_output, refuse_finished
from lesionlab.runner.results_file import results_payload
from lesionlab.runner.resume import fingerprint
from lesionlab.runner.round_context import RoundWork, Unit
from lesionlab.runner.round_log import RoundLog
from lesionlab.runner.round_models import RoundModels
from lesionlab.runner.rounds import RoundRecord, public_rounds
from lesionlab.runner.stopping import stop_reason
from lesionlab.selection.base import Evidence, Selection
from lesionlab.selection.evidence import EvidenceSettings, collect_evidence
from lesionlab.tasks import get_task
from lesionlab.training.trainer import Trainer

RoundCallback = Callable[[str, int, int], None]


class Experiment:
    """One configured experiment over one dataset; `run()` executes or resumes every (strategy, seed)."""

    def __init__(self, config: ExperimentConfig, force: bool = False, progress: bool = True) -> None:
        """Validate config and data (cheap, `runner.checks`) before any training; `progress` shows bars on
        a terminal."""
        self.config = config
        self.strategies, self.initial_strategy = checks.build_strategies(config)
        self.out = Path(config.output)
        refuse_finished(self.out, force)
        self.progress = progress
        self.task = get_task(config.task)
        self.dataset: LabeledDataset = load_dataset(config)  # type: ignore[arg-type]
        self.pool = self.dataset.split("train")
        self._check_and_split()
        self.round_log = RoundLog(config.experiment, self.metric, progress)
        self.by_id = {r.id: r for r in self.pool}
        self.cache_dir = config.cache_dir or default_cache_dir()
        self.models = RoundModels(config, self.task, self.dataset.classes, self.cache_dir, progress)
        self.evidence_settings = EvidenceSettings(
            mc_samples=config.experiment.mc_samples,
            scoring=config.experiment.pool_scoring,
            workdir=self.out / "state",
            image_options={
                "cache_dir": self.cache_dir,
                "preprocessing": config.train.preprocessing,
                "resize": config.train.resize,
            },
        )
        self._audit_features: audit_step.FeatureMemo | None = None
        if config.experiment.stopping == "paper000" and not self.val:
            log_line(
                "warning: stopping: paper000 tests each round's gain on the validation split, and "
                f"{self.dataset.name} has none: every run goes the full {config.experiment.rounds} rounds"
            )
        prepare_output(self.out, config, self.dataset, force)

    def _check_and_split(self) -> None:
        """The validation and evaluation images, and every check of data, options, budget and metric."""
        config, exp = self.config, self.config.experiment
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

    @staticmethod
    def _hidden(records: list[Record]) -> list[Record]:
        """Records as a strategy may see them before they are bought: no label, no mask."""
        return [replace(r, label=None, mask_path=None) for r in records]

    # ------------------------------------------------------------------ helpers
    def state_path(self, strategy: str, seed: int) -> Path:
        return self.out / "state" / f"{strategy}_seed{seed}.json"

    def _weights(self, strategy: str, seed: int) -> RoundWeights:
        return RoundWeights(self.out / "state", strategy, seed)

    def oracle(self, seed: int) -> Oracle:
        """Who answers this seed's label requests: the data set's labels, or a noisy expert."""
        exp = self.config.experiment
        classes = self.dataset.classes
        return build_oracle(exp.oracle, self.pool, classes, exp.oracle_noise, exp.oracle_difficulty, seed)

    def _buy(self, state: PoolState, oracle: Oracle, ids: list[str]) -> None:
        """Ask the oracle for the labels of `ids` and record them as bought."""
        answers = oracle.query(ids)
        missing = [i for i in ids if i not in answers]
        if missing:
            raise DataError(f"the oracle gave no label for {len(missing)} id(s), e.g. {missing[:3]}")
        state.buy(ids, answers)

    def _initial_ids(self, seed: int) -> list[str]:
        """The ids seed `seed` starts from, the same for each of its strategies (`runner.initial_set`)."""
        kind, hidden = self.config.experiment.initial.kind, self._hidden(self.pool)
        return initial_ids(kind, hidden, self.n_initial, self.initial_strategy, self.evidence_settings, seed)

    # ------------------------------------------------------------------ one run
    def run_one(self, strategy_name: str, seed: int, on_round: RoundCallback | None = None) -> PoolState:
        """Run (or resume) one (strategy, seed) unit round by round until it stops; its final pool state."""
        unit = self._open_unit(strategy_name, seed)
        while not unit.finished:
            record = self._run_round(unit)
            self._checkpoint(unit, record)
            self.round_log.line(strategy_name, seed, record)
            if on_round is not None:
                on_round(strategy_name, seed, record.round)
        return unit.state

    def _open_unit(self, name: str, seed: int) -> Unit:
        """The unit's saved state (or a new one, its initial labels bought) and, unless it is finished,
        its model: a continuing run's model goes on from the weights of its last saved round."""
        oracle = self.oracle(seed)
        path = self.state_path(name, seed)
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
        strategy = self.strategies[audit_step.base_strategy(name)]
        continuing = self.config.experiment.learning != "retrain"
        unit = Unit(name, seed, strategy, oracle, state, path, self._weights(name, seed), continuing)
        if unit.finished:
            return unit
        unit.model = self.models.new_model(seed)
        last = unit.last_round()
        if continuing and last is not None:
            load_weights(unit.model, unit.weights.model(last.round), name, seed)
        unit.previous_correct = last.val_correct if last is not None else None
        return unit

    def _run_round(self, unit: Unit) -> RoundRecord:
        """One round: fit and evaluate, then stop or select and buy the next labels; its record."""
        work = self._start_round(unit)
        self._fit_round(work, unit.seed)
        record = work.record
        reason = stop_reason(self.config.experiment, unit.state, record, unit.previous_correct)
        if reason is None:
            self._select_and_buy(unit, work)
        else:
            record.finish(reason)
        return record

    def _start_round(self, unit: Unit) -> RoundWork:
        """The round's model, learning rate, trainer and training set, and the record's first fields."""
        exp, state, round_ = self.config.experiment, unit.state, unit.state.n_rounds
        if not unit.continuing:
            unit.model = self.models.new_model(unit.seed)
        lr = round_lr(self.config.train.lr, exp.learning, state.history, exp.continual_lr_scale)
        continues = unit.continuing and fine_tuned_before(state.history)
        trainer = self.models.trainer(
            unit.model, unit.seed, round_, unit.strategy, lr=lr, continues=continues
        )
        train = training_set(exp.learning, state, self.by_id, trainer if unit.continuing else None)
        train += pseudo_labelled(state, self.by_id)  # CEAL: last round's trusted predictions
        bought = Counter(self.dataset.classes[label] for label in state.labels.values())
        record = RoundRecord(
            round=round_,
            n_labeled=len(state.labels),
            fraction=len(state.labels) / len(self.pool),
            n_trained_on=len(train),
            annotation_cost=audit_step.annotation_cost(state),  # labels + re-labels paid so far
            lr=lr,
            labeled_class_counts={c: bought.get(c, 0) for c in self.dataset.classes},
        )
        return RoundWork(round_, trainer, train, lr, continues, record)

    def _fit_round(self, work: RoundWork, seed: int) -> None:
        """Fit and evaluate the round's model; the first round's fit is shared by a seed's strategies.

        Its seconds are the fit's own also when it was loaded (`shared_load_seconds` beside), so a row's
        cost does not depend on which unit of its seed happened to run first."""
        record, trainer = work.record, work.trainer
        if not work.train:  # empty start: nothing to train on yet
            record.metrics, record.train_seconds, record.train_cpu_seconds = None, 0.0, 0.0
            return
        # CPU seconds beside the wall seconds: on a shared machine the wall clock measures the neighbours.
        t0, c0 = time.perf_counter(), time.process_time()
        shared = self._shared_first_round(work, seed)
        if shared is not None and not trainer.aux_heads and (fit := shared.load(trainer.model)) is not None:
            record.update_from(fit)
            record.shared_first_round = True
            record.shared_load_seconds = time.perf_counter() - t0
            return
        record.best_epoch = trainer.fit(work.train, self.val, self.dataset.classes).best_epoch
        self._evaluate_round(trainer, record)
        record.train_seconds = time.perf_counter() - t0
        record.train_cpu_seconds = time.process_time() - c0
        if shared is not None:
            shared.save(trainer.model, record.to_dict())

    def _shared_first_round(self, work: RoundWork, seed: int) -> FirstRound | None:
        """Where round 0's fit of this seed is shared, when another run of the seed can use it."""
        if work.round_ != 0 or len(audit_step.run_names(self.config.experiment)) < 2:
            return None
        inputs = {
            "run": fingerprint(self.config, self.dataset),
            "train": work.trainer.config.model_dump(mode="json", exclude={"progress", "num_threads"}),
            "evaluated_on": sorted(r.id for r in self.eval_records),
            "device": str(work.trainer.device),
        }
        return FirstRound.of(self.out / "state", seed, work.train, self.val, inputs)

    def _evaluate_round(self, trainer: Trainer, record: RoundRecord) -> None:
        """The task's metrics on the evaluation images, and per validation image whether it is right."""
        record.metrics = trainer.evaluate(self.eval_records, self.dataset.classes)
        if self.val:
            record.val_correct = trainer.correct(self.val).tolist()

    def _select_and_buy(self, unit: Unit, work: RoundWork) -> None:
        """Evidence, selection and purchase of the next labels, CEAL's pseudo-labels and the audit."""
        exp, record = self.config.experiment, work.record
        t1, c1 = time.perf_counter(), time.process_time()
        evidence, n_unlabeled = self._collect_evidence(unit, work)
        n_new, n_relabel = audit_step.split_budget(self.budget, exp.audit.relabel_fraction, unit.name)
        selection = self._select(unit, work, evidence, min(n_new, n_unlabeled))
        new_ids = [str(i) for i in selection.ids]
        self._buy(unit.state, unit.oracle, new_ids)
        self._pseudo_label(unit, work, selection.pseudo_ids)
        if exp.audit.every_round:
            self._audit(unit, record, n_relabel)
        record.selection_seconds = time.perf_counter() - t1
        record.selection_cpu_seconds = time.process_time() - c1
        counts = Counter(self.dataset.classes[unit.state.labels[i]] for i in new_ids)
        record.new_ids = new_ids
        record.new_scores = [float(s) for s in selection.scores]
        record.new_class_counts = {c: counts.get(c, 0) for c in self.dataset.classes}
        # The images (classification) or mask overlays (segmentation) the report shows.
        record.top_images = work.trainer.gallery_images(
            [self.by_id[i] for i in new_ids[: exp.gallery_size]],
            self.out / "overlays" / f"{unit.name}_seed{unit.seed}_round{work.round_}",
        )

    def _collect_evidence(self, unit: Unit, work: RoundWork) -> tuple[Evidence, int]:
        """The strategy's evidence and the number of unbought images. Evidence sees what was bought (a
        noisy oracle's answers) and nothing of the rest."""
        state = unit.state
        unlabeled = self._hidden([self.by_id[i] for i in state.unlabeled_ids()])
        labeled = [replace(self.by_id[i], label=state.labels[i]) for i in state.labeled_ids()]
        committee = partial(self.models.committee, work, unit.weights, self.val)
        settings = replace(self.evidence_settings, ensemble=committee)
        pool = self._hidden(self.pool)  # in pool order: pool-level features are fitted on it
        evidence = collect_evidence(unit.strategy, work.trainer, unlabeled, labeled, pool, settings)
        return evidence, len(unlabeled)

    @staticmethod
    def _select(unit: Unit, work: RoundWork, evidence: Evidence, n: int) -> Selection:
        """The strategy's `n` picks, drawn from a generator of (seed, round) alone."""
        return unit.strategy.select(evidence, n, np.random.default_rng([unit.seed, work.round_ + 1]))

    def _pseudo_label(self, unit: Unit, work: RoundWork, pseudo_ids: Sequence[str]) -> None:
        """CEAL's pseudo-labels: the predicted masks of the picked images, written once and kept with the
        state, so a resumed run reads them."""
        if not pseudo_ids:
            return
        folder = self.out / "state" / "pseudo" / f"{unit.name}_seed{unit.seed}_round{work.round_}"
        work.record.pseudo_masks = work.trainer.runtime.pseudo_masks(
            [self.by_id[i] for i in pseudo_ids], folder
        )

    def _audit(self, unit: Unit, record: RoundRecord, n_relabel: int) -> None:
        """Audit the bought labels and re-label the most suspect (`runner.audit_step`); features are of the
        untrained backbone, computed once per image for every run of this experiment."""
        audit_step.check_oracle(unit.oracle)
        if self._audit_features is None:
            self._audit_features = audit_step.backbone_memo(self.config, self.cache_dir, self.progress)
        memo, folds = self._audit_features, self.config.experiment.audit.folds
        state, oracle, seed, n_classes = unit.state, unit.oracle, unit.seed, self.dataset.num_classes
        found = audit_step.relabel_round(
            state, oracle, self.by_id, memo, n_classes, n_relabel, seed, record.round, folds
        )
        record.update_from(found)

    def _checkpoint(self, unit: Unit, record: RoundRecord) -> None:
        """Save the round: a continuing run's model first, under its own name; the state, saved next, is
        what makes it current. A kill in between resumes from the previous round with the previous model."""
        unit.state.history.append(record.to_dict())
        if unit.continuing:
            save_weights(unit.model, unit.weights.model(record.round))
        unit.state.save(unit.path)
        if unit.continuing and record.round > 0:
            unit.weights.drop_before(record.round)
        unit.previous_correct = record.val_correct

    # ------------------------------------------------------------------ all runs
    def units(self) -> list[tuple[str, int]]:
        """Every (strategy, seed) unit `run_one` runs, in the serial order (and the order of `runs`)."""
        exp = self.config.experiment
        return [(name, seed) for seed in exp.seeds for name in audit_step.run_names(exp)]

    def run(self, on_round: RoundCallback | None = None, engine: Any = None) -> dict[str, Any]:
        """Every unit, one after the other here, or by `engine` (`runner.engines.Engine`: processes, Ray)."""
        t0 = time.perf_counter()
        self.round_log.start()
        if engine is None:
            states = {unit: self.run_one(*unit, on_round) for unit in self.units()}
        else:
            states = engine.run(self, self.units())
        runs = [
            {"strategy": name, "seed": seed, "rounds": public_rounds(states[name, seed].history)}
            for name, seed in self.units()
        ]
        sizes = (len(self.pool), len(self.eval_records))
        results = results_payload(self.config, self.dataset, self.task.name, self.metric, sizes, runs)
        results["wall_seconds"] = time.perf_counter() - t0  # of this invocation (a resumed run: its part)
        write_json(self.out / "results.json", results)
        return results


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
