"""A classifier split into stem, stages and head, so a trainer can freeze and cache the first stages.

Every backbone is wrapped the same way: inputs are RGB floats in [0, 1] (the model applies its own
normalisation), `forward` returns logits, `forward_all` also returns the pooled embedding and the
output of every stage ("taps", used by loss predictors), and `run_tail` continues from a cached
activation after `freeze_stages` stages. On that path the frozen stages' taps are not computed again:
their global-average-pooled outputs come from a cache (`run_trunk_pooled`) as `pooled_taps`, and
`ClassifierOutput.pooled_tap(stage)` serves a pooled tap whichever path produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ClassifierOutput:
    """`taps[i]` is the output of stage `first_tap + i` (the stages that ran); `pooled_taps[s]` (N, C) is
    the global-average-pooled output of a stage that did not run here (a frozen, cached stage)."""

    logits: torch.Tensor
    embedding: torch.Tensor
    taps: list[torch.Tensor]
    first_tap: int = 0
    pooled_taps: dict[int, torch.Tensor] = field(default_factory=dict)

    def pooled_tap(self, stage: int) -> torch.Tensor:
        """(N, C) global-average-pooled output of `stage`, from the cache or from the stage that ran."""
        if stage in self.pooled_taps:
            return self.pooled_taps[stage]
        i = stage - self.first_tap
        if not 0 <= i < len(self.taps):
            ran = f"stages {self.first_tap}-{self.first_tap + len(self.taps) - 1} ran"
            raise ValueError(f"no tap of stage {stage}: {ran} and none was cached for it")
        return self.taps[i].mean(dim=(2, 3))


class LesionClassifier(nn.Module):
    """stem -> stages[0..S-1] -> head (to a pooled embedding) -> dropout -> linear classifier."""

    task = "classification"  # the registered task this model serves (lesionlab.tasks)

    def save_checkpoint(self, path, meta: dict | None = None) -> None:
        """Weights plus what rebuilds the model, written atomically (`models.registry.save_checkpoint`)."""
        from lesionlab.models.registry import save_checkpoint

        save_checkpoint(self, path, meta)

    def __init__(
        self,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        head: nn.Module,
        embed_dim: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        dropout: float = 0.2,
        backbone_name: str = "",
    ) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embed_dim, num_classes)
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.backbone_name = backbone_name
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def run_trunk(self, x: torch.Tensor, upto: int) -> torch.Tensor:
        """Normalise, stem, then the first `upto` stages: what the fast path caches."""
        x = self.stem(self.normalize(x))
        for stage in self.stages[:upto]:
            x = stage(x)
        return x

    def run_trunk_pooled(
        self, x: torch.Tensor, upto: int, stages: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`run_trunk(x, upto)` and the global-average-pooled outputs of `stages` (each < `upto`),
        concatenated in that order (N, sum of their channels), float32."""
        x = self.stem(self.normalize(x))
        pooled = {}
        for i, stage in enumerate(self.stages[:upto]):
            x = stage(x)
            if i in stages:
                pooled[i] = x.float().mean(dim=(2, 3))
        missing = sorted(set(stages) - set(pooled))
        if missing:
            raise ValueError(f"stages {missing} are not among the first {upto} stages")
        return x, torch.cat([pooled[i] for i in stages], dim=1)

    @torch.no_grad()
    def stage_shapes(self, size: int = 128) -> list[tuple[int, int, int]]:
        """(channels, height, width) of every stage's output for a `size` x `size` input (one dry run in
        eval mode: no batch-norm statistics change; each module's train/eval mode is restored)."""
        modes = {m: m.training for m in self.modules()}
        param = next(self.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        try:
            self.eval()
            taps = self.forward_all(torch.zeros(1, 3, size, size, device=device)).taps
        finally:
            for m, mode in modes.items():
                m.training = mode
        return [(t.shape[1], t.shape[2], t.shape[3]) for t in taps]

    def run_tail(self, x: torch.Tensor, start: int) -> ClassifierOutput:
        """Stages `start..` and the head, from an activation produced by `run_trunk(., start)`."""
        taps = []
        for stage in self.stages[start:]:
            x = stage(x)
            taps.append(x)
        embedding = self.head(x)
        return ClassifierOutput(self.classifier(self.dropout(embedding)), embedding, taps, first_tap=start)

    def forward_all(self, x: torch.Tensor) -> ClassifierOutput:
        x = self.stem(self.normalize(x))
        return self.run_tail(x, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x).logits

    def classify_embedding(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits from a pooled embedding (dropout active in train mode: MC dropout reuses embeddings)."""
        return self.classifier(self.dropout(embedding))

    def trunk_modules(self, upto: int) -> list[nn.Module]:
        return [self.stem, *self.stages[:upto]]
