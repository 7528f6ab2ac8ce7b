"""Shared fixtures: a tiny fake ISIC 2017 tree (see fake_isic.py) and a network guard."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.training.activations import clear_memory


@pytest.fixture(autouse=True)
def fresh_activation_memory() -> None:
    """Each test starts without the process-wide activation memory of earlier tests.

    Entries are keyed by image content, and the generated data sets of different tests hold the same
    images, so without this a test would read activations another test computed in other batches.
    """
    clear_memory()


@pytest.fixture
def tiny_isic(tmp_path: Path) -> TinyIsic:
    """40 train / 12 val / 16 test 32x32 JPEGs in the official ISIC 2017 layout (melanoma task)."""
    return make_tiny_isic(tmp_path / "isic2017")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails at once instead of hanging."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def offline_single_thread(no_network: None) -> Iterator[None]:
    """No network, and one torch thread: fastest for tiny tensors and kind to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
