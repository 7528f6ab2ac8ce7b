"""`--set key.sub=value` on every command that reads a config, and `${LESIONLAB_DATA}` in data.root
(issue 34, item 1): overrides are written into the YAML mapping before validation, so they are checked
exactly as the file's own values; an unset variable or a missing folder is one error naming the variable
and docs/data.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from lesionlab import cli
from lesionlab.config import ExperimentConfig, TrainRunConfig, load_config, load_experiment_config
from lesionlab.config_yaml import DATA_SECTION, apply_overrides, expand_data_root, parse_override
from lesionlab.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DATA_MD = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def _yaml(path: Path, payload: dict) -> Path:
    path.write_text(yaml.safe_dump(payload))
    return path


# ------------------------------------------------------------------------ parsing and applying


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("train.epochs=5", ["train", "epochs"], 5),
        ("train.lr=3e-4", ["train", "lr"], "3e-4"),  # YAML 1.1 reads this as text; pydantic parses it
        ("train.lr=0.0003", ["train", "lr"], 0.0003),
        ("train.amp=false", ["train", "amp"], False),
        ("data.root=/data/isic 2017", ["data", "root"], "/data/isic 2017"),
        ("experiment.seeds=[0, 1]", ["experiment", "seeds"], [0, 1]),
        ("data.root=null", ["data", "root"], None),
        ("name=a=b", ["name"], "a=b"),  # only the first '=' separates
    ],
)
def test_values_are_read_as_yaml(text: str, keys: list[str], value: object) -> None:
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("train.epochs", "write key=value"),
        ("=5", "write key=value"),
        ("train..epochs=5", "write key=value"),
        ("data.root=", "has no value"),
        ("train.epochs=[1", "not valid YAML"),
    ],
)
def test_malformed_overrides_are_one_clear_error(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_override(text)


def test_overrides_write_into_a_copy_and_create_sections() -> None:
    data = {"train": {"epochs": 20, "lr": 0.001}, "model": None}
    out = apply_overrides(data, ["train.epochs=5", "data.root=/d", "model.backbone=resnet18"])
    assert out == {
        "train": {"epochs": 5, "lr": 0.001},
        "data": {"root": "/d"},
        "model": {"backbone": "resnet18"},
    }
    assert data == {"train": {"epochs": 20, "lr": 0.001}, "model": None}  # the file's mapping is untouched


def test_an_override_through_a_value_that_is_not_a_section_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"train\.epochs is 20, not a section"):
        apply_overrides({"train": {"epochs": 20}}, ["train.epochs.max=3"])


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = _yaml(tmp_path / "c.yaml", {"train": {"epochs": 20}, "output": str(tmp_path / "run")})
    config = load_config(TrainRunConfig, path, ["train.epochs=5", "data.root=/data/isic2017"])
    assert config.train.epochs == 5 and config.data.root == Path("/data/isic2017")
    with pytest.raises(ConfigError) as unknown:
        load_config(TrainRunConfig, path, ["train.epoch=5"])
    message = str(unknown.value)
    assert "with --set train.epoch=5" in message and "train.epoch: unknown field" in message
    with pytest.raises(ConfigError, match=r"train\.epochs: Input should be greater than or equal to 1"):
        load_config(TrainRunConfig, path, ["train.epochs=0"])
    with pytest.raises(ConfigError, match="a number is expected here, not true/false"):
        load_config(TrainRunConfig, path, ["train.epochs=true"])


def test_an_override_can_make_an_experiment_config_and_changes_its_fields(tmp_path: Path) -> None:
    path = _yaml(tmp_path / "c.yaml", {"experiment": {"rounds": 4}})
    config = load_experiment_config(path, ["experiment.rounds=1", "experiment.seeds=[3]"])
    assert isinstance(config, ExperimentConfig)
    assert config.experiment.rounds == 1 and config.experiment.seeds == [3]


# ------------------------------------------------------------------------ ${LESIONLAB_DATA}


def test_data_root_variable_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "isic2017").mkdir()
    monkeypatch.setenv("LESIONLAB_DATA", str(tmp_path))
    path = _yaml(tmp_path / "c.yaml", {"data": {"root": "${LESIONLAB_DATA}/isic2017"}})
    assert load_config(TrainRunConfig, path).data.root == tmp_path / "isic2017"
    # an override may use the variable too, and one without it is taken as written
    other = load_config(TrainRunConfig, path, ["data.root=/elsewhere"])
    assert other.data.root == Path("/elsewhere")


def test_unset_variable_names_itself_and_the_data_doc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LESIONLAB_DATA", raising=False)
    with pytest.raises(ConfigError) as error:
        expand_data_root({"data": {"root": "${LESIONLAB_DATA}/isic2017"}}, "x.yaml")
    message = str(error.value)
    assert "$LESIONLAB_DATA, which is not set" in message
    assert "export LESIONLAB_DATA=" in message and "docs/data.md" in message
    assert "--set data.root=" in message


def test_missing_folder_names_the_variable_and_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LESIONLAB_DATA", str(tmp_path))
    with pytest.raises(ConfigError) as error:
        expand_data_root({"data": {"root": "${LESIONLAB_DATA}/ham10000"}}, "x.yaml")
    message = str(error.value)
    assert f"is {tmp_path}/ham10000 (LESIONLAB_DATA={tmp_path}), which is not a folder" in message
    assert "docs/data.md" in message


def test_the_section_the_errors_name_exists() -> None:
    assert f"\n## {DATA_SECTION}\n" in DATA_MD.read_text()


def test_a_root_without_a_variable_is_left_as_written() -> None:
    data = {"data": {"root": "no/such/folder"}}
    assert expand_data_root(data, "x.yaml") is data  # the source's own error names a missing folder


def test_every_example_takes_its_data_from_lesionlab_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examples must run on a fresh clone given the data folder: no development-machine paths."""
    (tmp_path / "isic2017").mkdir()
    monkeypatch.setenv("LESIONLAB_DATA", str(tmp_path))
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert examples
    for path in examples:
        text = path.read_text()
        assert "../shared" not in text, path.name
        root = yaml.safe_load(text)["data"]["root"]
        assert root.startswith("${LESIONLAB_DATA}/"), path.name
        assert expand_data_root(yaml.safe_load(text), path.name)["data"]["root"].startswith(str(tmp_path))


# ------------------------------------------------------------------------ every command takes --set


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["lesionlab", *args])
    try:
        cli.main()
    except SystemExit as exit_info:
        return exit_info.code
    return 0  # success returns


def test_train_and_run_pass_their_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lesionlab.supervised

    seen: dict[str, object] = {}

    def fake_train(config, force=False):
        seen["train"] = config
        return {"dataset": "x", "test": {}, "n_test": 0, "best_epoch": 1, "config": {"output": "o"}}

    monkeypatch.setattr(lesionlab.supervised, "train_run", fake_train)
    monkeypatch.setattr(cli, "print_metrics", lambda *a, **k: None)
    train = _yaml(tmp_path / "t.yaml", {"output": str(tmp_path / "run")})
    sets = ["--set", "train.epochs=3", "--set", "model.dropout=0.1"]
    assert _main(monkeypatch, "train", str(train), *sets) == 0
    assert seen["train"].train.epochs == 3 and seen["train"].model.dropout == 0.1

    monkeypatch.setattr(cli, "_run_and_report", lambda config, force, engine=None: seen.update(run=config))
    experiment = _yaml(tmp_path / "e.yaml", {"experiment": {"rounds": 4}, "output": str(tmp_path / "exp")})
    assert _main(monkeypatch, "run", str(experiment), "--set", "experiment.rounds=2") == 0
    assert seen["run"].experiment.rounds == 2


def test_a_bad_override_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    train = _yaml(tmp_path / "t.yaml", {"output": str(tmp_path / "run")})
    assert _main(monkeypatch, "train", str(train), "--set", "train.epoch=3") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: invalid configuration in {train} with --set train.epoch=3")
    assert "train.epoch: unknown field" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_pretrain_and_audit_pass_their_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lesionlab.audit.command
    import lesionlab.selfsup.pretrain

    seen: dict[str, object] = {}

    def fake_pretrain(config, force=False):
        seen["pretrain"] = config
        return {"config": {"output": str(tmp_path)}, "n_images": 1, "best_epoch": 1}

    monkeypatch.setattr(lesionlab.selfsup.pretrain, "pretrain", fake_pretrain)
    config = _yaml(tmp_path / "p.yaml", {"output": str(tmp_path / "pre")})
    assert _main(monkeypatch, "pretrain", str(config), "--set", "epochs=2") == 0
    assert seen["pretrain"].epochs == 2

    def fake_audit(target, out, **options):
        seen["audit"] = options["overrides"]
        return {"at_k": [], "n_images": 0, "out": str(tmp_path)}

    monkeypatch.setattr(lesionlab.audit.command, "run_audit", fake_audit)
    assert _main(monkeypatch, "audit", str(config), "--set", "train.epochs=2") == 0
    assert list(seen["audit"]) == ["train.epochs=2"]


def test_audit_refuses_overrides_for_a_run_folder(tmp_path: Path) -> None:
    from lesionlab.audit.command import run_audit

    with pytest.raises(ConfigError, match="--set changes a config file"):
        run_audit(tmp_path, overrides=["train.epochs=2"])
