"""Third-party plugins: a tiny distribution on a path entry registers a strategy and a loss through entry
points, and an experiment names them from YAML.

The distribution is what `pip install` leaves behind (a package and a `*.dist-info` folder with
`entry_points.txt`), written by hand: no network, no pip. The run is a fresh Python process with the folder
on PYTHONPATH, as an installed plugin would be found, so the registries discover it on their first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from fake_isic import make_tiny_isic

pytestmark = pytest.mark.slow

PLUGIN = '''
"""A strategy with no decorator (registered by its entry point's name) and a loss with its own options
(registered by its module's import)."""

import numpy as np
from pydantic import Field

from lesionlab.config import Options
from lesionlab.selection.base import Selection, Strategy


class LowestIds(Strategy):
    """Picks the unlabelled ids that sort first: easy to check from the outside."""

    requires = frozenset()

    def __init__(self, reverse: bool = False) -> None:
        self.reverse = reverse

    def select(self, evidence, budget, rng):
        ids = sorted(evidence.ids.tolist(), reverse=self.reverse)[:budget]
        return Selection(ids=np.array(ids), scores=-np.arange(len(ids), dtype=float))
'''

PLUGIN_LOSSES = """
from pathlib import Path

from pydantic import Field

from lesionlab.config import Options
from lesionlab.training.losses import LossSetup, SampleLoss, register_loss_setup, weighted_ce


class ScaledOptions(Options):
    scale: float = Field(1.0, gt=0)
    marker: str = ""


@register_loss_setup("scaled_ce", ScaledOptions)
def scaled_ce(options, num_classes):
    if options.marker:
        Path(options.marker).write_text(f"scale={options.scale}")

    def loss(logits, target, weight):
        base = weighted_ce(logits, target, weight)
        return SampleLoss(options.scale * base.values, base.mass)

    return LossSetup(loss)
"""


def write_plugin(root: Path) -> None:
    """`lesionlab_demo_plugin` 1.0 as installed: the package and its dist-info with the entry points."""
    package = root / "lesionlab_demo_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    (package / "losses.py").write_text(textwrap.dedent(PLUGIN_LOSSES))
    info = root / "lesionlab_demo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lesionlab-demo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[lesionlab.strategies]\nlowest_ids = lesionlab_demo_plugin:LowestIds\n\n"
        "[lesionlab.losses]\ndemo_losses = lesionlab_demo_plugin.losses\n"
    )


RUN = """
import json, sys
from pathlib import Path
from lesionlab.config import load_experiment_config
from lesionlab.runner.experiment import run_experiment
results = run_experiment(load_experiment_config(Path(sys.argv[1])), progress=False)
print(json.dumps([[r["new_ids"] for r in run["rounds"]] for run in results["runs"]]))
"""


@pytest.mark.slow  # a fresh Python process (about 20 s on a busy 2-core machine)
def test_a_plugin_strategy_and_loss_run_from_yaml(tmp_path: Path) -> None:
    plugins = tmp_path / "site"
    write_plugin(plugins)
    tiny = make_tiny_isic(tmp_path / "isic")
    marker = tmp_path / "loss_was_built"
    config = {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "train": {
            "resolution": 32,
            "epochs": 1,
            "views": 2,
            "batch_size": 8,
            "num_threads": 1,
            "progress": False,
            "loss": "scaled_ce",
            "loss_options": {"scale": 2.0, "marker": str(marker)},
        },
        "experiment": {
            "strategies": ["lowest_ids"],
            "strategy_params": {"lowest_ids": {"reverse": False}},
            "seeds": [0],
            "initial": {"kind": "random", "size": 4},
            "budget": 3,
            "rounds": 1,
        },
        "output": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    env.update(OMP_NUM_THREADS="1", LESIONLAB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (picks,) = json.loads(done.stdout.strip().splitlines()[-1])
    state = json.loads((tmp_path / "run" / "state" / "lowest_ids_seed0.json").read_text())
    initial = set(state["labels"]) - set(picks[0])  # bought before round 0: the random initial set
    assert len(initial) == 4
    assert picks[0] == sorted(set(tiny.ids["train"]) - initial)[:3]  # the plugin's strategy chose
    assert marker.read_text() == "scale=2.0"  # the plugin's loss was built with its options from YAML


@pytest.mark.slow  # a fresh Python process
def test_a_plugin_options_typo_is_one_line_naming_its_options(tmp_path: Path) -> None:
    plugins = tmp_path / "site"
    write_plugin(plugins)
    check = (
        "from lesionlab.config import TrainConfig\n"
        "from lesionlab.training.losses import build_loss\n"
        "from lesionlab.selection.base import get_strategy\n"
        "for call in (lambda: build_loss('scaled_ce', TrainConfig(loss_options={'scael': 2})),\n"
        "             lambda: get_strategy('lowest_ids', reversed=True)):\n"
        "    try:\n        call()\n    except Exception as exc:\n        print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loss_line, strategy_line = done.stdout.strip().splitlines()[-2:]
    assert loss_line.startswith("train.loss_options of loss 'scaled_ce': unknown option(s) scael;")
    assert "scale (default 1.0)" in loss_line and "marker" in loss_line
    assert strategy_line == (
        "strategy 'lowest_ids': unknown option(s) reversed; valid options: reverse (default False)"
    )
