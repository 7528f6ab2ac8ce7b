"""Pool scoring: decoding ahead in threads, torch and ONNX Runtime giving the same predictions (to the
stated tolerance), scores written to memory-mapped arrays, and `lesionlab score` end to end."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fake_isic import lesion_image
from lesionlab.cli import app
from lesionlab.data.preprocess import load_image
from lesionlab.errors import LesionlabError
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import create_classifier, save_checkpoint
from lesionlab.scoring import OnnxScorer, TorchScorer, decoded_batches, onnx_export, score_images
from lesionlab.scoring.onnx_export import EMBED_RTOL, PROBS_ATOL, export_onnx
from lesionlab.selection.memmap import EvidenceStore

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("offline_single_thread")
SIZE = 32


@pytest.fixture(scope="module")
def lite0() -> LesionClassifier:
    return create_classifier("efficientnet_lite0", 3, "imagenet", seed=0).eval()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 small JPEGs (an odd count, so the last batch is short) and one file that is not an image."""
    root = tmp_path_factory.mktemp("pool")
    (root / "sub").mkdir()
    for i in range(11):
        where = root / "sub" if i % 3 == 0 else root
        lesion_image(i, melanoma=i % 2 == 0, size=48).save(where / f"img{i:02d}.jpg", quality=90)
    (root / "broken.png").write_bytes(b"not a png")
    return root


def _decoded(paths: list[Path]) -> np.ndarray:
    return np.stack([load_image(p, SIZE, "gray_world") for p in paths])


def test_batches_come_in_order_and_are_decoded_by_worker_threads(folder: Path) -> None:
    paths = sorted(folder.glob("*.jpg"))
    threads: set[str] = set()

    def decode(path: Path) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return load_image(path, SIZE, "gray_world")

    got = list(decoded_batches(paths, decode, batch_size=3, workers=2))
    assert [start for start, _ in got] == list(range(0, len(paths), 3))
    np.testing.assert_array_equal(np.concatenate([b for _, b in got]), _decoded(paths))
    assert threads and all(name.startswith("lesionlab-decode") for name in threads)


def test_decoding_runs_only_a_few_batches_ahead(folder: Path) -> None:
    """Bounded memory: with 1 worker and 1 batch of prefetch, at most 2 batches are decoded ahead."""
    paths = sorted(folder.glob("*.jpg")) * 4
    decoded = []
    lock = threading.Lock()

    def decode(path: Path) -> np.ndarray:
        with lock:
            decoded.append(path)
        return np.zeros((2, 2, 3), np.uint8)

    batches = decoded_batches(paths, decode, batch_size=4, workers=1, prefetch=1)
    next(batches)
    threading.Event().wait(0.3)  # give the worker time to run further ahead if it could
    assert len(decoded) <= 3 * 4  # the batch handed out, plus 2 ahead
    assert sum(len(b) for _, b in batches) == len(paths) - 4


@pytest.mark.slow
def test_onnx_export_gives_the_same_predictions_as_torch(
    lite0: LesionClassifier, folder: Path, tmp_path: Path
) -> None:
    images = _decoded(sorted(folder.rglob("*.jpg")))
    record = export_onnx(lite0, tmp_path / "m.onnx", SIZE, check_images=images)
    assert record["probs_max_abs_diff"] <= PROBS_ATOL and record["embed_max_rel_diff"] <= EMBED_RTOL
    torch_probs, torch_emb = TorchScorer(lite0, "cpu", threads=1)(images)
    onnx_probs, onnx_emb = OnnxScorer(tmp_path / "m.onnx", threads=1)(images)
    assert onnx_probs.shape == torch_probs.shape == (len(images), 3)
    np.testing.assert_allclose(onnx_probs, torch_probs, rtol=0, atol=PROBS_ATOL)
    np.testing.assert_allclose(onnx_emb, torch_emb, rtol=0, atol=EMBED_RTOL * np.abs(torch_emb).max())
    assert (onnx_probs.argmax(1) == torch_probs.argmax(1)).all()
    # The probabilities are not trivially equal (e.g. uniform): the images are told apart.
    assert np.ptp(torch_probs[:, 0]) > 1e-3
    # Same weights and resolution: reused, not exported again.
    stamp = (tmp_path / "m.onnx").stat().st_mtime_ns
    assert export_onnx(lite0, tmp_path / "m.onnx", SIZE, reuse=True) == record
    assert (tmp_path / "m.onnx").stat().st_mtime_ns == stamp


def test_an_export_that_differs_from_torch_is_refused(
    lite0: LesionClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph that forgets to scale the pixels to [0, 1] is caught by the check and leaves no file."""

    def unscaled(self, images):
        import torch

        out = self.model.forward_all(images.permute(0, 3, 1, 2).float())
        return torch.softmax(out.logits, dim=1), out.embedding

    monkeypatch.setattr(onnx_export._ScoringGraph, "forward", unscaled)
    with pytest.raises(LesionlabError, match="differs from torch beyond tolerance"):
        export_onnx(lite0, tmp_path / "bad.onnx", SIZE)
    assert not (tmp_path / "bad.onnx").exists()
    assert not list(tmp_path.iterdir())  # nor a temporary one


def test_pool_scores_go_to_memory_maps_and_a_bad_file_is_reported(
    lite0: LesionClassifier, folder: Path, tmp_path: Path
) -> None:
    paths = [*sorted(folder.rglob("*.jpg")), folder / "broken.png"]
    scorer = TorchScorer(lite0, "cpu", threads=1)
    store = EvidenceStore(tmp_path / "scores")
    result = score_images(paths, scorer, SIZE, "gray_world", batch_size=4, store=store, show_progress=False)
    assert isinstance(result.probs, np.memmap) and not result.probs.flags.writeable
    assert list(result.failed) == [str(folder / "broken.png")]
    assert np.isnan(result.probs[-1]).all() and np.isnan(result.embeddings[-1]).all()
    expected_probs, expected_emb = scorer(_decoded(paths[:-1]))
    np.testing.assert_allclose(result.probs[:-1], expected_probs, atol=1e-6)
    np.testing.assert_allclose(result.embeddings[:-1], expected_emb, atol=1e-5)
    reread = np.load(tmp_path / "scores" / "probs.npy")
    np.testing.assert_array_equal(reread, np.asarray(result.probs))
    assert not list((tmp_path / "scores").glob(".*tmp"))  # nothing half-written left behind


def _fake_run(run_dir: Path, model: LesionClassifier) -> Path:
    """What `lesionlab train` leaves behind (config and checkpoint), without training."""
    config = {
        "data": {"source": "isic2017", "root": str(run_dir / "unused"), "task": "melanoma"},
        "train": {"resolution": SIZE, "num_threads": 1, "progress": False},
        "output": str(run_dir),
    }
    save_checkpoint(model, run_dir / "model.pt", {"classes": ["a", "b", "c"]})
    (run_dir / "metrics.json").write_text(json.dumps({"config": config, "classes": ["a", "b", "c"]}))
    return run_dir


@pytest.mark.slow
def test_score_command_with_both_backends(lite0: LesionClassifier, folder: Path, tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run", lite0)
    rows = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        args = ["score", str(run), str(folder), "--backend", backend, "--out", str(out), "--threads", "1"]
        result = CliRunner().invoke(app, [*args, "--batch-size", "4"])
        assert result.exit_code == 0, result.output
        assert "scored 12 images" in result.output and "could not be decoded" in result.output
        with open(out / "scores.csv", newline="") as fh:
            rows[backend] = list(csv.DictReader(fh))
        summary = json.loads((out / "scoring.json").read_text())
        assert summary["backend"] == backend and summary["n_images"] == 12
    assert (run / "model.onnx").is_file()
    assert (
        json.loads((tmp_path / "onnxruntime" / "scoring.json").read_text())["onnx_check"]["same_argmax"] == 1
    )
    assert [r["image"] for r in rows["torch"]] == [r["image"] for r in rows["onnxruntime"]]
    for a, b in zip(rows["torch"], rows["onnxruntime"], strict=True):
        if a["image"].endswith("broken.png"):
            assert a["predicted"] == b["predicted"] == ""
            continue
        assert a["predicted"] == b["predicted"]
        for c in "abc":
            assert abs(float(a[f"p_{c}"]) - float(b[f"p_{c}"])) <= PROBS_ATOL


def test_score_command_refuses_an_unknown_backend(
    lite0: LesionClassifier, folder: Path, tmp_path: Path
) -> None:
    run = _fake_run(tmp_path / "run", lite0)
    result = CliRunner().invoke(app, ["score", str(run), str(folder), "--backend", "tensorrt"])
    assert result.exit_code != 0
    assert "unknown --backend 'tensorrt'" in str(result.exception)
