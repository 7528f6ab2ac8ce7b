"""The "Registries and plugins" examples of docs/architecture.md run as written there.

Each example is a fenced block whose first line is a `# example: ...` marker comment; the Python blocks
are executed, the YAML blocks loaded as configs, and what they register is checked, then removed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from lesionlab.config import ExperimentConfig, TrainConfig, load_config
from lesionlab.errors import ConfigError
from lesionlab.selection.base import STRATEGIES, Evidence, get_strategy
from lesionlab.training.losses import LOSSES, build_loss

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
FENCED = re.findall(r"```(\w+)\n# example: ([^\n]*)\n(.*?)```", DOC.read_text(), flags=re.S)


def example(marker: str) -> str:
    """The code of the block marked `# example: <marker>...` (the marker line left out)."""
    found = [code for _, name, code in FENCED if name.split(" (")[0] == marker]
    assert len(found) == 1, f"expected one block marked {marker!r} in {DOC}, found {len(found)}"
    return found[0]


def test_the_strategy_plugin_example() -> None:
    exec(example("strategy plugin"), {})
    try:
        tomllib = pytest.importorskip("tomllib")  # Python 3.11+
        entry = tomllib.loads(example("strategy plugin entry point"))
        assert entry["project"]["entry-points"]["lesionlab.strategies"] == {
            "my_strategies": "my_package.strategies"
        }
        config = load_config(ExperimentConfig, yaml.safe_load(example("strategy plugin config")))
        params = config.experiment.strategy_params["smallest_gap"]
        strategy = get_strategy("smallest_gap", **params)
        assert strategy.name == "smallest_gap" and strategy.temperature == 2.0
        probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7], [0.5, 0.5]])
        chosen = strategy.select(Evidence(np.array(list("abcd")), probs=probs), 2, np.random.default_rng(0))
        assert sorted(chosen.ids.tolist()) == ["b", "d"]  # the two nearest a tie
        with pytest.raises(ConfigError, match=r"smallest_gap.*temprature.*valid options: temperature"):
            get_strategy("smallest_gap", temprature=2.0)
    finally:
        STRATEGIES.unregister("smallest_gap")


def test_the_loss_with_options_example() -> None:
    exec(example("loss with options"), {})
    try:
        train = load_config(ExperimentConfig, yaml.safe_load(example("loss with options config"))).train
        assert (train.loss, train.loss_options) == ("focal", {"gamma": 1.0})
        build_loss("focal", train, 3)
        logits = torch.randn(5, 3)
        target = F.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()
        plain = build_loss("focal", TrainConfig(loss="focal", loss_options={"gamma": 0}), 3)
        expected = F.cross_entropy(logits, target, reduction="none")
        torch.testing.assert_close(plain.loss(logits, target, None).values, expected)
        focused = build_loss("focal", train, 3).loss(logits, target, None).values
        assert torch.all(focused < expected)  # easy samples count less
        with pytest.raises(ConfigError, match=r"loss 'focal': gamma: Input should be greater than or equal"):
            build_loss("focal", TrainConfig(loss="focal", loss_options={"gamma": -1}), 3)
    finally:
        LOSSES.unregister("focal")
