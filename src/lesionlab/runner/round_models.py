"""The models and trainers of an experiment's rounds: a fresh model per seed, a trainer per (seed, round)
with its training seed, learning rate, epochs and auxiliary heads, and the committee that ensemble
strategies read. Seeds come from (seed, round) alone, so a resumed run trains what an uninterrupted one
would have."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lesionlab.config import ExperimentConfig
from lesionlab.data.records import Record
from lesionlab.runner.checkpoints import RoundWeights, load_weights, save_weights
from lesionlab.runner.round_context import RoundWork
from lesionlab.selection.base import Strategy
from lesionlab.selection.evidence import heads_for
from lesionlab.training.factory import build_model, build_trainer
from lesionlab.training.trainer import Trainer


class RoundModels:
    """Builds the models and trainers of one experiment (`config`, `task`, its classes and cache)."""

    def __init__(
        self, config: ExperimentConfig, task: Any, classes: Sequence[str], cache_dir: Path, progress: bool
    ) -> None:
        self.config, self.task, self.classes = config, task, list(classes)
        self.cache_dir, self.progress = cache_dir, progress

    def new_model(self, seed: int) -> Any:
        """A fresh model (pre-trained trunk, a head initialised from `seed`)."""
        return build_model(self.task, self.config.model, len(self.classes), seed)

    def trainer(
        self,
        model: Any,
        seed: int,
        round_: int,
        strategy: Strategy | None = None,
        lr: float | None = None,
        continues: bool = False,
    ) -> Trainer:
        """A trainer for this (seed, round), with the auxiliary heads the strategy's evidence needs.

        `continues`: the model goes on from an earlier round's fine-tuning, so it takes the shorter
        `round_epochs` schedule (Zhao et al. 2022, "Self-supervised assisted active learning for skin
        lesion segmentation"); a fresh model (retrain, a committee member, the first fine-tuning after an
        empty start) trains for `train.epochs`.
        """
        # `train.progress: false` keeps a run's round lines but not its epoch lines and bars (the demo).
        shown = self.progress and self.config.train.progress
        cfg = self.config.train.updated(
            seed=seed * 1000 + round_, progress=shown, lr=lr or self.config.train.lr
        )
        later = self.config.experiment.round_epochs
        if later is not None and continues:
            cfg = cfg.updated(epochs=later)
        heads = heads_for(strategy, model) if strategy is not None else []
        return build_trainer(self.task, model, cfg, cache_dir=self.cache_dir, aux_heads=heads)

    def committee(self, work: RoundWork, weights: RoundWeights, val: list[Record]) -> list[Trainer]:
        """The round's trainer plus `ensemble_size - 1` members on the same labels, each with its own seed.

        `ensemble_members: fresh` trains every member afresh for `train.epochs` (Beluch et al. 2018, "The
        power of ensembles for active learning in image classification"); `continued` fine-tunes each
        member on from its previous round whenever the model `continues` (same lr, `round_epochs` if set),
        and keeps it in `weights` (written before the round's state, so a resumed round finds the
        previous members).
        """
        exp = self.config.experiment
        members = [work.trainer]
        continued = exp.ensemble_members == "continued"
        earlier = continued and work.continues  # as the model: not the first fit after an empty start
        for k in range(1, exp.ensemble_size):
            member_seed = weights.seed + 7919 * k
            model = self.new_model(member_seed)
            if earlier:
                load_weights(model, weights.member(k, work.round_ - 1), weights.strategy, weights.seed)
            lr = work.lr if earlier else None
            member = self.trainer(model, member_seed, work.round_, lr=lr, continues=earlier)
            member.fit(work.train, val, self.classes)
            if continued:
                save_weights(model, weights.member(k, work.round_))
            members.append(member)
        return members
