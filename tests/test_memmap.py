"""Pool evidence on disk: memory-mapped arrays written in chunks give every strategy the same picks as
arrays in memory, the loop's forward pass streams to disk above a size, and all-pairs strategies are
refused on large pools."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_isic import TinyIsic, tiny_train_config
from lesionlab.data.records import Record
from lesionlab.data.sources import load_source
from lesionlab.errors import ConfigError
from lesionlab.models.registry import create_classifier
from lesionlab.selection.base import Strategy, available_strategies, get_strategy
from lesionlab.selection.evidence import EvidenceSettings, collect_evidence
from lesionlab.selection.memmap import EvidenceStore, evidence_to_disk, streamed_outputs
from lesionlab.tasks import get_task
from lesionlab.training.trainer import Trainer
from test_strategies import full_evidence

pytestmark = pytest.mark.usefixtures("offline_single_thread")


def test_store_writes_in_chunks_and_reads_back_read_only(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "ev")
    rng = np.random.default_rng(0)
    mc = rng.random((4, 1000, 3)).astype(np.float32)
    back = store.put("mc_probs", mc, row_axis=1, chunk_rows=128)
    assert isinstance(back, np.memmap) and not back.flags.writeable
    np.testing.assert_array_equal(back, mc)
    np.testing.assert_array_equal(np.load(tmp_path / "ev" / "mc_probs.npy"), mc)  # a plain .npy file
    with pytest.raises(ValueError):
        back[0, 0, 0] = 1.0


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    with pytest.raises(RuntimeError), store.writer("probs", (10, 2)) as out:
        out[:5] = 1.0
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="never written"):
        store.read("probs")


@pytest.mark.parametrize("name", available_strategies())
def test_a_strategy_picks_the_same_from_memory_and_from_disk(name: str, tmp_path: Path) -> None:
    strategy = get_strategy(name)
    evidence = full_evidence(n=300).only(strategy.requires)
    on_disk = evidence_to_disk(evidence, EvidenceStore(tmp_path), chunk_rows=64)
    assert all(
        isinstance(v, np.memmap) or all(isinstance(a, np.memmap) for a in v.values())
        for v in on_disk.arrays.values()
    )
    picks_mem = strategy.select(evidence, 25, np.random.default_rng(3))
    picks_disk = strategy.select(on_disk, 25, np.random.default_rng(3))
    np.testing.assert_array_equal(picks_disk.ids, picks_mem.ids)
    np.testing.assert_array_equal(picks_disk.scores, picks_mem.scores)


@pytest.fixture
def trainer_and_pool(tiny_isic: TinyIsic) -> tuple[Trainer, list[Record]]:
    """An (untrained-head) fast-path trainer, and 300 pool records (the tiny images under many ids)."""
    dataset = load_source("isic2017", tiny_isic.root, "melanoma")
    model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)
    trainer = Trainer(model, tiny_train_config(), cache_dir=tiny_isic.root.parent / "cache")
    base = dataset.records
    pool = [replace(base[i % len(base)], id=f"r{i}") for i in range(300)]
    return trainer, pool


@pytest.mark.slow
def test_streamed_outputs_equal_the_in_memory_pass(trainer_and_pool, tmp_path: Path) -> None:
    trainer, pool = trainer_and_pool
    probs, embeds, _ = trainer.outputs(pool)
    d_probs, d_embeds, mc = streamed_outputs(trainer, pool, 0, EvidenceStore(tmp_path), chunk_rows=128)
    assert isinstance(d_probs, np.memmap) and d_probs.shape == (300, 2) and mc.size == 0
    np.testing.assert_array_equal(d_probs, probs)  # chunks of whole 128-image batches: bit for bit
    np.testing.assert_array_equal(d_embeds, embeds)
    # Bounded memory: the activations of the streamed chunks are on disk, not kept in the process.
    assert len(trainer.runtime.activations._memory) == 0
    again, _, _ = streamed_outputs(trainer, pool, 0, EvidenceStore(tmp_path / "again"), chunk_rows=128)
    np.testing.assert_array_equal(again, probs)  # read back from the disk cache: the same numbers
    _, _, d_mc = streamed_outputs(trainer, pool, 4, EvidenceStore(tmp_path / "mc"), chunk_rows=128)
    assert d_mc.shape == (4, 300, 2) and np.allclose(d_mc.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of 128"):
        streamed_outputs(trainer, pool, 0, EvidenceStore(tmp_path / "x"), chunk_rows=100)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["least_confidence", "coreset"])
def test_the_loop_keeps_a_large_pools_evidence_on_disk(trainer_and_pool, tmp_path: Path, name: str) -> None:
    """Above `disk_above` the collector streams the forward pass to memory maps (in a folder of its own,
    removed at once) and the strategy picks exactly what it picks from memory."""
    trainer, pool = trainer_and_pool
    strategy = get_strategy(name)
    unlabeled, labeled = pool[20:], pool[:20]
    in_memory = collect_evidence(strategy, trainer, unlabeled, labeled, pool, EvidenceSettings(workdir=None))
    settings = EvidenceSettings(workdir=tmp_path / "state", disk_above=100)
    on_disk = collect_evidence(strategy, trainer, unlabeled, labeled, pool, settings)
    assert isinstance(on_disk.embeddings if name == "coreset" else on_disk.probs, np.memmap)
    assert list((tmp_path / "state").iterdir()) == []  # nothing left on disk once mapped
    a = strategy.select(in_memory, 10, np.random.default_rng(1))
    b = strategy.select(on_disk, 10, np.random.default_rng(1))
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


class _AllPairs(Strategy):
    """Stands in for a strategy with an N x N similarity matrix."""

    name = "all_pairs_example"
    requires = frozenset({"probs"})
    all_pairs = True


def test_all_pairs_strategies_are_refused_on_a_large_pool() -> None:
    pool = [Record(f"r{i}", Path(f"r{i}.jpg"), 0) for i in range(50)]
    settings = EvidenceSettings(all_pairs_limit=40)
    with pytest.raises(ConfigError, match=r"compares every pair of the 50 unlabelled images.*above 40"):
        collect_evidence(_AllPairs(), None, pool, settings=settings)
    # Below the limit it goes on (and here fails later for want of a model, not for its size).
    with pytest.raises(ConfigError, match="needs a trained model"):
        collect_evidence(_AllPairs(), None, pool[:40], settings=settings)


def test_a_segmenters_large_pool_stays_in_memory(tmp_path: Path) -> None:
    """The on-disk pass stores (N, C) class probabilities; a segmenter (no `num_classes`) has (N, H, W)
    maps, so above the limit its forward pass stays in memory instead of failing."""

    class Segmenter(torch.nn.Module):
        embed_dim = 3

    class SegLikeTrainer:
        model = Segmenter()
        task = get_task("segmentation")

        def outputs(self, records, mc_samples=0):
            n = len(records)
            return np.full((n, 4, 4), 0.5), np.arange(3 * n, dtype=float).reshape(n, 3), np.empty((0,))

        def embed(self, records):
            return self.outputs(records)[1]

    pool = [Record(id=f"r{i}", image_path=Path(f"r{i}.jpg"), label=0, split="train") for i in range(12)]
    settings = EvidenceSettings(workdir=tmp_path / "state", disk_above=4)
    evidence = collect_evidence(get_strategy("coreset"), SegLikeTrainer(), pool[2:], pool[:2], pool, settings)
    assert not isinstance(evidence.embeddings, np.memmap) and evidence.embeddings.shape == (10, 3)


@pytest.mark.slow
def test_k_center_on_a_read_only_map_is_quiet(tmp_path: Path) -> None:
    """Evidence on disk is a read-only memory map that k-center only reads: no torch warning about
    non-writable arrays, with pruning or without (in a fresh interpreter: torch warns once per process)."""
    x = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import numpy as np; from lesionlab.selection.kcenter import k_center_greedy; "
        f"x = np.load({str(tmp_path / 'x.npy')!r}, mmap_mode='r'); assert not x.flags.writeable; "
        "a = k_center_greedy(x, 5, prune=True); b = k_center_greedy(x, 5, prune=False); "
        "assert list(a.indices) == list(b.indices), (a.indices, b.indices)"
    )
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
