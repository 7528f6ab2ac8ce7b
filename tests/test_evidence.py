"""Evidence providers: the registry, one shared forward pass, strategy options, and a new kind in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lesionlab.selection.base as base_module
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, Strategy, evidence_kinds, get_strategy
from lesionlab.selection.evidence import (
    EvidenceSettings,
    collect_evidence,
    model_free,
    register_evidence,
)


class FakeTrainer:
    """Stands in for a trained model: fixed outputs, and a count of forward passes."""

    def __init__(self, n_classes: int = 3, dim: int = 4) -> None:
        self.n_classes, self.dim, self.passes, self.mc_asked = n_classes, dim, 0, []

    def outputs(self, records, mc_samples=0):
        self.passes += 1
        self.mc_asked.append(mc_samples)
        n = len(records)
        probs = np.full((n, self.n_classes), 1 / self.n_classes)
        mc = np.stack([probs] * mc_samples) if mc_samples else np.empty((0,))
        return probs, np.arange(n * self.dim, dtype=float).reshape(n, self.dim), mc

    def embed(self, records):
        return np.ones((len(records), self.dim))

    def predict(self, records):
        return np.full((len(records), self.n_classes), 1 / self.n_classes)


def records(n: int, prefix: str = "u") -> list[Record]:
    return [
        Record(id=f"{prefix}{i}", image_path=Path(f"/nowhere/{prefix}{i}.png"), label=0) for i in range(n)
    ]


class Needs(Strategy):
    def __init__(self, *kinds: str, options: dict | None = None) -> None:
        self.requires = frozenset(kinds)  # type: ignore[misc]
        self._options = options or {}

    def evidence_options(self) -> dict:
        return self._options


def test_builtin_kinds_are_registered_with_their_row_axes() -> None:
    kinds = evidence_kinds()
    assert {"probs", "mc_probs", "ensemble_probs", "embeddings", "labeled_embeddings", "features"} <= set(
        kinds
    )
    assert kinds["mc_probs"].row_axis == 1 and kinds["labeled_embeddings"].row_axis is None
    assert not kinds["features"].needs_model and kinds["probs"].needs_model
    assert model_free({"features"}) and not model_free({"features", "probs"})


def test_probs_embeddings_and_mc_share_one_forward_pass() -> None:
    trainer, unlabeled = FakeTrainer(), records(5)
    ev = collect_evidence(
        Needs("probs", "embeddings", "mc_probs"), trainer, unlabeled, settings=EvidenceSettings(mc_samples=4)
    )
    assert trainer.passes == 1 and trainer.mc_asked == [4]
    assert ev.probs.shape == (5, 3) and ev.embeddings.shape == (5, 4) and ev.mc_probs.shape == (4, 5, 3)
    assert ev.ids.tolist() == [r.id for r in unlabeled]
    # Without MC dropout asked for, no MC passes are made.
    trainer = FakeTrainer()
    collect_evidence(Needs("probs"), trainer, unlabeled)
    assert trainer.mc_asked == [0]


def test_ensemble_is_trained_only_when_asked_for() -> None:
    calls = []

    def ensemble():
        calls.append(1)
        return [FakeTrainer(), FakeTrainer()]

    settings = EvidenceSettings(ensemble=ensemble)
    collect_evidence(Needs("probs"), FakeTrainer(), records(3), settings=settings)
    assert calls == []
    ev = collect_evidence(Needs("ensemble_probs"), FakeTrainer(), records(3), settings=settings)
    assert calls == [1] and ev.ensemble_probs.shape == (2, 3, 3)


def test_a_model_kind_without_a_model_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="'probs' needs a trained model"):
        collect_evidence(Needs("probs"), None, records(3))


def test_features_follow_the_strategy_options_and_are_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = []

    def fake_pool_features(pool, path, n_components=1, n_buckets=10, **image_options):
        calls.append((len(pool), path.name, n_components, n_buckets))
        return {
            "pca": np.arange(len(pool) * n_components, dtype=float).reshape(len(pool), n_components),
            "lsh_bucket": np.arange(len(pool)) % n_buckets,
        }

    import lesionlab.selection.pool_features as pool_features

    monkeypatch.setattr(pool_features, "compute_pool_features", fake_pool_features)
    pool = records(6)
    settings = EvidenceSettings(workdir=tmp_path)
    strategy = Needs("features", options={"features": {"n_components": 2, "n_buckets": 3}})
    ev = collect_evidence(strategy, None, pool[2:], labeled=pool[:2], pool=pool, settings=settings)
    assert calls == [(6, "pool_features_pca2_k3.npz", 2, 3)]
    np.testing.assert_array_equal(ev.features["lsh_bucket"], [2, 0, 1, 2])  # rows of the unlabelled ids
    collect_evidence(strategy, None, pool[3:], labeled=pool[:3], pool=pool, settings=settings)
    assert len(calls) == 1  # fitted once per pool and setting, not per round
    # The dual-criteria strategies pass their own parameters without the runner reading them.
    assert get_strategy("dual_criteria", n_components=2, n_buckets=3).evidence_options() == {
        "features": {"n_components": 2, "n_buckets": 3}
    }


def test_a_new_kind_is_one_provider_and_one_registry_line() -> None:
    try:

        @register_evidence("test_only_scores")
        def scores(request):
            """(N,) one number per unlabelled image."""
            return np.arange(len(request.unlabeled), dtype=float)

        ev = collect_evidence(Needs("test_only_scores"), None, records(4))
        np.testing.assert_array_equal(ev.test_only_scores, [0, 1, 2, 3])
        with pytest.raises(ValueError, match="test_only_scores has 2 rows for 3 ids"):
            Evidence(ids=np.array(["a", "b", "c"]), test_only_scores=np.zeros(2))
    finally:
        base_module.EVIDENCE.unregister("test_only_scores")


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown evidence"):
        collect_evidence(Needs("telepathy"), FakeTrainer(), records(2))
    with pytest.raises(ValueError, match="unknown evidence kind"):
        Evidence(ids=np.array(["a"]), telepathy=np.zeros(1))


def test_damaged_or_foreign_pool_feature_files_are_recomputed(tmp_path: Path) -> None:
    from lesionlab.selection.pool_features import _load_saved

    ids = np.array(["a", "b", "c"])
    path = tmp_path / "pool_features.npz"
    np.savez(path, ids=ids, pca=np.zeros((3, 1)), lsh_bucket=np.array([0, 1, 2]))
    assert _load_saved(path, ids, 1, 10) is not None
    assert _load_saved(path, ids, 2, 10) is None  # other components
    assert _load_saved(path, ids, 1, 2) is None  # bucket 2 cannot come from K = 2
    assert _load_saved(path, ids[:2], 1, 10) is None  # another pool
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert _load_saved(path, ids, 1, 10) is None
    path.write_bytes(b"")
    assert _load_saved(path, ids, 1, 10) is None


def test_a_kind_can_ask_for_an_auxiliary_head_the_runner_trains() -> None:
    built = []

    def make_head(model):
        built.append(model)
        return ("head for", model)

    try:

        @register_evidence("test_only_learned", head=make_head)
        def learned(request):
            """(N,) read from a jointly trained head."""
            return np.zeros(len(request.unlabeled))

        from lesionlab.selection.evidence import heads_for

        assert heads_for(Needs("test_only_learned", "probs"), "the model") == [("head for", "the model")]
        assert heads_for(Needs("probs"), "the model") == []
    finally:
        base_module.EVIDENCE.unregister("test_only_learned")
