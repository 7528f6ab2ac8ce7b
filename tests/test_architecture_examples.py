"""The seam examples in docs/architecture.md run against the code as written there."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lesionlab.selection.base as base_module
import lesionlab.training.losses as losses_module
from lesionlab.data.records import Record
from lesionlab.runner.oracles import NoisyOracle, SimulatedOracle
from lesionlab.selection.base import Strategy
from lesionlab.selection.evidence import collect_evidence

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def block(first_line_part: str) -> str:
    matches = [b for b in BLOCKS if first_line_part in b.splitlines()[0] or first_line_part in b]
    assert matches, f"no example containing {first_line_part!r} in {DOC}"
    return matches[0]


def test_new_evidence_kind_example() -> None:
    namespace: dict = {}
    exec(block('@register_evidence("top2_gap")'), namespace)
    try:

        class FakeTrainer:
            def predict(self, records):
                return np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.1, 0.8]])

        class NeedsGap(Strategy):
            requires = frozenset({"top2_gap"})

        records = [Record(id=f"r{i}", image_path=Path(f"/x/{i}.png"), label=0) for i in range(3)]
        evidence = collect_evidence(NeedsGap(), FakeTrainer(), records)
        np.testing.assert_allclose(evidence.top2_gap, [0.5, 0.05, 0.7])
    finally:
        base_module.EVIDENCE.unregister("top2_gap")


def test_new_task_example() -> None:
    """The task example's metrics (its module, registration and YAML run in test_architecture_plugins)."""
    from lesionlab.tasks import TASKS

    namespace = {"__name__": __name__}
    exec(block("class OrdinalTask"), namespace)
    try:
        task = namespace["OrdinalTask"]()
        outputs = np.array([[0.9, 0.1, 0.0], [0.1, 0.1, 0.8]])  # expected grades 0.1 and 1.7
        metrics = task.metrics(np.array([0, 1]), outputs, ["a", "b", "c"])
        assert metrics["accuracy"] == 0.5 and metrics["neg_mae"] == pytest.approx(-0.4)
        assert task.check_metric("auto", 3, "experiment.metric") == "neg_mae"
    finally:
        TASKS.unregister("ordinal")


def test_new_loss_example() -> None:
    exec(block('@register_loss("symmetric_ce")'), {})
    try:
        loss = losses_module.get_loss("symmetric_ce")
        logits = torch.randn(4, 3)
        target = F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
        values = loss(logits, target, None).values
        assert values.shape == (4,) and torch.all(values > 0)
    finally:
        losses_module.LOSSES.unregister("symmetric_ce")


@pytest.mark.slow
def test_new_oracle_example() -> None:
    namespace = {"Counter": Counter}
    exec(block("class MajorityOfThree"), namespace)
    records = [Record(id=f"r{i}", image_path=Path(f"/x/{i}.png"), label=i % 2) for i in range(200)]
    three = [NoisyOracle(records, 2, 0.2, seed=s) for s in range(3)]
    majority = namespace["MajorityOfThree"](three)
    ids = [r.id for r in records]
    truth = SimulatedOracle(records).query(ids)
    wrong_majority = sum(majority.query(ids)[i] != truth[i] for i in ids)
    wrong_single = sum(three[0].query(ids)[i] != truth[i] for i in ids)
    assert wrong_majority < wrong_single  # three votes at 20 % err about 10 % of the time


@pytest.mark.parametrize("snippet", ["def downweight_outliers", "def evidence_options"])
def test_fragments_are_valid_python(snippet: str) -> None:
    compile(block(snippet), str(DOC), "exec")
