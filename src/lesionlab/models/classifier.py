"""A classifier split into stem, stages and head, so a trainer can freeze and cache the first stages.

Every backbone is wrapped the same way: inputs are RGB floats in [0, 1] (the model applies its own
normalisation), `forward` returns logits, `forward_all` also returns the pooled embedding and the
output of every stage ("taps", used by loss predictors), and `run_tail` continues from a cached
activation after `freeze_stages` stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ClassifierOutput:
    logits: torch.Tensor
    embedding: torch.Tensor
    taps: list[torch.Tensor]


class LesionClassifier(nn.Module):
    """stem -> stages[0..S-1] -> head (to a pooled embedding) -> dropout -> linear classifier."""

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

    def run_tail(self, x: torch.Tensor, start: int) -> ClassifierOutput:
        """Stages `start..` and the head, from an activation produced by `run_trunk(., start)`."""
        taps = []
        for stage in self.stages[start:]:
            x = stage(x)
            taps.append(x)
        embedding = self.head(x)
        return ClassifierOutput(self.classifier(self.dropout(embedding)), embedding, taps)

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
