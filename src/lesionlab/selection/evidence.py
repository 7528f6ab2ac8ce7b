"""Evidence providers: each kind of evidence computed from a model and the records, registered by name.

A strategy declares the kinds it needs (`Strategy.requires`); `collect_evidence` asks each kind's
provider once per round over the unlabelled pool and hands the strategy arrays only. A new kind is one
provider function and one `@register_evidence(...)` line, in any module of `lesionlab.selection` or in a
plugin (entry-point group `lesionlab.evidence`): every kind exists whichever module was imported first.
Providers receive an `EvidenceRequest`: the current trainer (None before any model exists), the records,
the strategy's own options for that kind (`Strategy.evidence_options`) and the run's settings (MC
samples, how to train a committee, where to keep pool-level caches).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lesionlab.data.records import Record
from lesionlab.errors import ConfigError
from lesionlab.selection.base import Evidence, EvidenceKind, Strategy, evidence_kinds, register_evidence_kind
from lesionlab.selection.memmap import ALL_PAIRS_LIMIT, EvidenceStore, check_all_pairs, streamed_outputs

if TYPE_CHECKING:
    from lesionlab.training.trainer import Trainer


@dataclass
class EvidenceSettings:
    """What a run sets once for every round's evidence.

    ensemble: trains and returns the committee (the current model first) when a strategy needs one;
    workdir: where providers keep pool-level caches (e.g. the PCA features), None for memory only;
    image_options: how the pool's images are decoded for model-free features (cache_dir, preprocessing).
    """

    mc_samples: int = 10
    ensemble: Callable[[], Sequence[Trainer]] | None = None
    workdir: Path | None = None
    image_options: Mapping[str, Any] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)  # kept across rounds (pool-level results)
    # Above this many unlabelled images, probs/embeddings/mc_probs are written to memory-mapped files in
    # `workdir` a chunk at a time instead of held in memory (`selection.memmap`); None: always in memory.
    disk_above: int | None = 50_000
    # Strategies that compare every pair of unlabelled images (`all_pairs = True`) are refused above this.
    all_pairs_limit: int = ALL_PAIRS_LIMIT
    # Who computes probs/embeddings/mc_probs: the trainer (cached activations on the CPU fast path) or
    # the round's model exported to ONNX Runtime, end to end from the images (`scoring.in_loop`).
    scoring: str = "trainer"


@dataclass
class EvidenceRequest:
    """One round's call to a provider; `shared` lets providers of one round share a forward pass."""

    trainer: Trainer | None
    unlabeled: Sequence[Record]
    labeled: Sequence[Record]
    pool: Sequence[Record]
    requested: frozenset[str]
    options: Mapping[str, Any]
    settings: EvidenceSettings
    shared: dict[str, Any] = field(default_factory=dict)

    def model(self, kind: str) -> Trainer:
        if self.trainer is None:
            raise ConfigError(f"evidence {kind!r} needs a trained model, and there is none yet")
        return self.trainer


Provider = Callable[[EvidenceRequest], Any]


def register_evidence(
    name: str,
    row_axis: int | None = 0,
    mapping: bool = False,
    needs_model: bool = True,
    description: str = "",
    head: Callable[[Any], Any] | None = None,
    outputs: tuple[str, ...] = (),
) -> Callable[[Provider], Provider]:
    """Decorator: `fn(request) -> array` provides evidence `name` (rows along `row_axis`).

    `head(model)` builds an auxiliary head the model must train jointly for this kind to exist (see
    `heads_for`); the provider then reads it through `Trainer.aux_predict`. The kind joins the registry
    `base.EVIDENCE` (any module of `lesionlab.selection` is imported when the registry is first asked, and
    the plugins of the `lesionlab.evidence` entry-point group after it).
    """

    def deco(fn: Provider) -> Provider:
        kind = EvidenceKind(
            name, row_axis, mapping, needs_model, description or fn.__doc__ or "", head, outputs, fn
        )
        register_evidence_kind(kind)
        return fn

    return deco


def collect_evidence(
    strategy: Strategy,
    trainer: Trainer | None,
    unlabeled: Sequence[Record],
    labeled: Sequence[Record] = (),
    pool: Sequence[Record] | None = None,
    settings: EvidenceSettings | None = None,
) -> Evidence:
    """The evidence `strategy` requires over `unlabeled`, each kind from its provider.

    `pool` (default: labelled + unlabelled) is the whole pool, for kinds fitted once per pool.
    """
    needs = frozenset(strategy.requires)
    kinds = evidence_kinds()
    unknown = needs - set(kinds)
    if unknown:
        raise ValueError(f"strategy {strategy.name} requires unknown evidence {sorted(unknown)}")
    settings = settings or EvidenceSettings()
    check_all_pairs(strategy, len(unlabeled), settings.all_pairs_limit)
    options = strategy.evidence_options()
    shared: dict[str, Any] = {}
    arrays = {}
    for kind in sorted(needs):
        request = EvidenceRequest(
            trainer,
            unlabeled,
            labeled,
            list(pool) if pool is not None else [*labeled, *unlabeled],
            needs,
            options.get(kind, {}),
            settings,
            shared,
        )
        arrays[kind] = kinds[kind].provider(request)
    return Evidence(ids=np.array([r.id for r in unlabeled]), **arrays)


def heads_for(strategy: Strategy, model: Any) -> list[Any]:
    """The auxiliary heads the evidence `strategy` requires must be trained with (new, untrained)."""
    known = evidence_kinds()
    return [known[k].head(model) for k in sorted(strategy.requires) if k in known and known[k].head]


def check_task(strategy: Strategy, task: Any) -> None:
    """ConfigError when `strategy` needs evidence that `task`'s model cannot give (e.g. class-probability
    entropy for segmentation: use pixel_entropy); evidence kinds declare the head outputs they read."""
    known = evidence_kinds()
    wrong = sorted(
        k
        for k in strategy.requires
        if k in known and known[k].outputs and task.output not in known[k].outputs
    )
    if wrong:
        hint = f"; {task.strategy_hint}" if task.strategy_hint else ""
        raise ConfigError(
            f"strategy {strategy.name} needs evidence {', '.join(wrong)}, which a {task.name} model does not "
            f"give{hint}"
        )


def model_free(kinds: frozenset[str] | set[str]) -> bool:
    """True when every kind can be computed without a model (so it can pick the initial labelled set)."""
    known = evidence_kinds()
    return all(not known[k].needs_model for k in kinds if k in known)


# --------------------------------------------------------------------------- built-in providers
def _forward(request: EvidenceRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities, embeddings and MC-dropout probabilities in one pass, shared by the three kinds."""
    if "forward" not in request.shared:
        trainer = request.model("probs")
        mc = request.settings.mc_samples if "mc_probs" in request.requested else 0
        settings = request.settings
        large = settings.disk_above is not None and len(request.unlabeled) > settings.disk_above
        # The on-disk pass stores (N, C) class probabilities: a segmenter's (N, H, W) maps stay in memory
        # (docs/scaling.md).
        large = large and trainer.task.class_labels
        if settings.scoring == "onnxruntime":
            from lesionlab.scoring.in_loop import onnx_outputs

            request.shared["forward"] = onnx_outputs(trainer, request.unlabeled, mc, settings.workdir, large)
        elif large and settings.workdir is not None:
            request.shared["forward"] = _forward_on_disk(trainer, request.unlabeled, mc, settings.workdir)
        else:
            request.shared["forward"] = trainer.outputs(request.unlabeled, mc)
    return request.shared["forward"]


def _forward_on_disk(trainer: Trainer, records: Sequence[Record], mc: int, workdir: Path):
    """The forward pass a chunk at a time into memory-mapped files of a fresh folder (units running side
    by side never share one), removed at once: the open maps keep the data until the round drops them."""
    import shutil
    import tempfile

    Path(workdir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=workdir, prefix=".evidence-"))
    try:
        return streamed_outputs(trainer, records, mc, EvidenceStore(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@register_evidence("probs", outputs=("class_probs",))
def probs(request: EvidenceRequest) -> np.ndarray:
    """(N, C) class probabilities of the current model."""
    return _forward(request)[0]


@register_evidence("embeddings")
def embeddings(request: EvidenceRequest) -> np.ndarray:
    """(N, D) pooled features, the classifier's input."""
    return _forward(request)[1]


@register_evidence("mc_probs", row_axis=1, outputs=("class_probs",))
def mc_probs(request: EvidenceRequest) -> np.ndarray:
    """(T, N, C) probabilities of T MC-dropout passes (T = mc_samples)."""
    return _forward(request)[2]


@register_evidence("labeled_embeddings", row_axis=None)
def labeled_embeddings(request: EvidenceRequest) -> np.ndarray:
    """(L, D) pooled features of the labelled set (diversity strategies compare against it); (0, 0)
    when nothing is labelled yet (an annotation project's cold start), which `coreset` reads as empty."""
    trainer = request.model("labeled_embeddings")
    return trainer.embed(request.labeled) if request.labeled else np.empty((0, 0), dtype=np.float32)


@register_evidence("ensemble_probs", row_axis=1, outputs=("class_probs",))
def ensemble_probs(request: EvidenceRequest) -> np.ndarray:
    """(M, N, C) probabilities of an M-model committee trained on the same labels."""
    request.model("ensemble_probs")
    if request.settings.ensemble is None:
        raise ConfigError("this strategy needs an ensemble, but none was configured")
    return np.stack([member.predict(request.unlabeled) for member in request.settings.ensemble()])


@register_evidence("features", mapping=True, needs_model=False)
def features(request: EvidenceRequest) -> dict[str, np.ndarray]:
    """Model-free pool features (Shi et al.'s PCA coordinates and LSH buckets), fitted once per pool and
    setting, kept in the run's folder, and returned for the unlabelled rows."""
    from lesionlab.selection.pool_features import DEFAULT_BUCKETS, compute_pool_features

    n_components = int(request.options.get("n_components", 1))
    n_buckets = int(request.options.get("n_buckets", DEFAULT_BUCKETS))
    key = ("features", n_components, n_buckets)
    memo = request.settings.memo
    if key not in memo:
        workdir = request.settings.workdir
        # Shi et al.'s setting keeps the plain file name; others get their own file.
        name = (
            "pool_features.npz"
            if (n_components, n_buckets) == (1, DEFAULT_BUCKETS)
            else f"pool_features_pca{n_components}_k{n_buckets}.npz"
        )
        memo[key] = compute_pool_features(
            request.pool,
            None if workdir is None else workdir / name,
            n_components=n_components,
            n_buckets=n_buckets,
            **request.settings.image_options,
        )
    index = {r.id: i for i, r in enumerate(request.pool)}
    rows = np.array([index[r.id] for r in request.unlabeled], dtype=int)
    return {k: v[rows] for k, v in memo[key].items()}


def _loss_predictor(model: Any) -> Any:
    from lesionlab.tasks import get_task

    return get_task(model.task).loss_predictor(model)  # e.g. a U-Net's taps are its encoder maps


@register_evidence("predicted_loss", head=_loss_predictor)
def predicted_loss(request: EvidenceRequest) -> np.ndarray:
    """(N,) the loss predictor's output for each unlabelled image (Yoo & Kweon 2019, as Kim et al. 2020
    use it); the
    runner trains the predictor jointly with the model for every strategy that requires this kind."""
    return request.model("predicted_loss").aux_predict(request.unlabeled)["loss_predictor"]


@register_evidence("vaal_scores", outputs=("class_probs",))
def vaal_scores(request: EvidenceRequest) -> np.ndarray:
    """(N,) VAAL's discriminator probability that each unlabelled image is unlabelled (Sinha et al.
    2019), trained afresh each round on the frozen trunk's cached activations (or the model's embeddings),
    seeded by the labelled and unlabelled ids. Options (`Vaal.evidence_options`): latent_dim, beta,
    adversary_weight, epochs, batch_size, lr."""
    from lesionlab.models.vaal import seed_from_ids, unlabeled_probability, vaal_features

    trainer = request.model("vaal_scores")
    seed = seed_from_ids([r.id for r in request.labeled], [r.id for r in request.unlabeled])
    return unlabeled_probability(
        vaal_features(trainer, request.labeled),
        vaal_features(trainer, request.unlabeled),
        seed,
        **request.options,
    )
