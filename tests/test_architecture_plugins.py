"""The "Registries and plugins" examples of docs/architecture.md run as written there.

Each example is a fenced block whose first line is a `# example: ...` marker comment; the Python blocks
are executed, the YAML blocks loaded as configs, and what they register is checked, then removed.
"""

from __future__ import annotations

import importlib
import re
import sys
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


def test_the_task_example_is_one_module_named_from_yaml(tmp_path: Path, monkeypatch) -> None:
    """A task added by one module and its registration is named from YAML, trains with the one Trainer
    (reusing the classification runtime) and reports its own metrics."""
    from fake_isic import make_tiny_isic, tiny_train_config
    from lesionlab.data.sources import load_isic2017
    from lesionlab.models.registry import create_classifier
    from lesionlab.tasks import TASKS, get_task
    from lesionlab.training.trainer import Trainer

    package = tmp_path / "plugin" / "my_package"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "ordinal.py").write_text(example("task"))
    monkeypatch.syspath_prepend(str(tmp_path / "plugin"))
    importlib.import_module("my_package.ordinal")  # importing the module registers the task
    try:
        config = load_config(ExperimentConfig, yaml.safe_load(example("task config")))
        task = get_task(config.task)
        assert task.name == "ordinal" and task.primary_metric(2) == "neg_mae"
        data = load_isic2017(make_tiny_isic(tmp_path / "isic").root)
        model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)
        trainer = Trainer(model, tiny_train_config(epochs=2, monitor=config.train.monitor), task=task)
        fit = trainer.fit(data.split("train"), data.split("val"), data.classes)
        assert fit.monitor == "neg_mae" and all("val_neg_mae" in row for row in fit.history)
        scores = trainer.evaluate(data.split("test"), data.classes)
        assert set(scores) == {"accuracy", "neg_mae"} and -1.0 <= scores["neg_mae"] <= 0.0
    finally:
        TASKS.unregister("ordinal")
        for name in ("my_package.ordinal", "my_package"):
            sys.modules.pop(name, None)
    with pytest.raises(Exception, match="unknown task 'ordinal'"):
        load_config(ExperimentConfig, {"task": "ordinal"})
