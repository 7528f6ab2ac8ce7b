"""Writers on a full disk (issue 31, item 7, other instances). Evidence arrays: a memory map of a sparse
file takes its blocks only as rows are written, so on a full disk `lesionlab score` died of SIGBUS ("Bus
error", exit 135, no message, its temporary files and lock left behind; measured on a 300 kB tmpfs); the
blocks are now reserved first, so a full disk is the one-line `DiskFullError` naming the folder. Models
written by torch (the shared first round, the ONNX export) name their file and size too."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from lesionlab.io import DiskFullError
from lesionlab.selection.memmap import EvidenceStore


def _no_room(fd: int, offset: int, length: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_evidence_array_on_a_full_disk_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "posix_fallocate", _no_room)
    store = EvidenceStore(tmp_path / "scores")
    with pytest.raises(DiskFullError) as caught, store.writer("embeddings", (1000, 64)) as out:
        out[:] = 1.0
    message = str(caught.value)
    assert f"no space left in {tmp_path / 'scores'} while writing embeddings.npy" in message
    assert "about 0.3 MB needed" in message and "\n" not in message
    assert list((tmp_path / "scores").iterdir()) == []  # no temporary file left


def test_space_is_reserved_for_the_whole_array(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "scores")
    with store.writer("probs", (4096, 8)) as out:
        tmp = next((tmp_path / "scores").glob(".probs.*"))
        assert os.stat(tmp).st_blocks * 512 >= 4096 * 8 * 4  # blocks taken before any row is written
        out[:] = 0.5
    assert np.load(tmp_path / "scores" / "probs.npy").mean() == 0.5


@pytest.mark.slow
def test_a_shared_first_round_model_on_a_full_disk_says_the_models_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lesionlab run` on a full disk stopped at the first round's model with "at least 0.1 MB needed" for
    a 13.7 MB model (measured on a 2 MB tmpfs); the message now gives the model's size, as for others."""
    import torch

    from lesionlab.runner.first_round import FirstRound
    from test_disk_full import _FullDisk

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: _FullDisk(real_fdopen(fd, mode), 100_000))
    first = FirstRound(tmp_path / "state", "seed0_abc")
    with pytest.raises(DiskFullError, match=r"while writing first_round_seed0_abc.pt \(about 4.0 MB needed"):
        first.save(torch.nn.Linear(1000, 1000), {})
    assert not list((tmp_path / "state").iterdir())


@pytest.mark.slow
def test_an_onnx_export_on_a_full_disk_names_the_file_and_the_models_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.onnx writes the file itself, so a full disk there read "no space left on the device" with no
    file, folder or size (seen with `lesionlab score --backend onnxruntime` on a full 20 MB tmpfs)."""
    pytest.importorskip("onnxruntime")
    from lesionlab.models.registry import create_classifier
    from lesionlab.scoring import onnx_export

    def full(graph: object, resolution: int, tmp: Path) -> None:
        Path(tmp).write_bytes(b"partial")
        raise RuntimeError("export failed") from OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(onnx_export, "_export", full)
    model = create_classifier("efficientnet_lite0", 2, "none", seed=0)
    with pytest.raises(
        DiskFullError, match=rf"no space left in {tmp_path} while writing model.onnx \(about 1\d\.\d MB"
    ):
        onnx_export.export_onnx(model, tmp_path / "model.onnx", 32)
    assert list(tmp_path.iterdir()) == []
