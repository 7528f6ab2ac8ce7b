"""Xue et al. 2019's noisy-label losses: OUSM drops exactly the K largest losses of a batch, Eq. 1's
combination, forward correction (and its estimate of T), the registry's configured losses with their own
options and callbacks, and tiny fits with `loss: ousm_loop`, `ousm` and `forward` through the trainer."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal
from sklearn.neighbors import KNeighborsClassifier

from fake_isic import TinyIsic, tiny_train_config
from lesionlab.config import ExperimentConfig, TrainRunConfig, load_config
from lesionlab.data.noise import estimate_transition, transition_noise
from lesionlab.data.sources import load_isic2017
from lesionlab.errors import ConfigError
from lesionlab.models.registry import create_classifier
from lesionlab.training.auxiliary import EpochEnd
from lesionlab.training.local_outliers import LoopReweighting, local_outlier_probabilities
from lesionlab.training.losses import (
    LossSetup,
    available_losses,
    build_loss,
    get_loss,
    register_loss_setup,
    weighted_ce,
)
from lesionlab.training.noisy_losses import (
    CombinedSampleLoss,
    ForwardCorrection,
    OusmLoopOptions,
    TransitionEstimate,
    choose_ousm_fraction,
    forward_corrected_ce,
    ousm_ce,
    ousm_keep,
    ousm_reweighted_ce,
)
from lesionlab.training.trainer import TrainConfig, Trainer

# ------------------------------------------------------------------------ OUSM


@pytest.mark.parametrize(
    ("n", "fraction", "k"), [(32, 0.1, 3), (32, 0.25, 8), (10, 0.3, 3), (7, 0.0, 0), (2, 0.6, 1)]
)
def test_ousm_drops_exactly_the_k_largest_losses(n: int, fraction: float, k: int) -> None:
    torch.manual_seed(n)
    logits = torch.randn(n, 3, requires_grad=True)
    y = torch.randint(0, 3, (n,))
    target = F.one_hot(y, 3).float()
    weight = torch.tensor([0.5, 2.0, 1.0])
    plain = F.cross_entropy(logits, y, reduction="none").detach()
    dropped = set(torch.argsort(plain, descending=True)[:k].tolist())

    assert set(torch.nonzero(~ousm_keep(plain, fraction)).flatten().tolist()) == dropped
    loss = ousm_ce(logits, target, weight, fraction)
    assert set(torch.nonzero(loss.values == 0).flatten().tolist()) == dropped
    assert set(torch.nonzero(loss.mass == 0).flatten().tolist()) == dropped
    assert torch.equal(loss.raw, weighted_ce(logits, target, weight).values)  # every sample's loss, for heads
    kept = torch.tensor([i for i in range(n) if i not in dropped])
    # The mean is the class-weighted cross-entropy of the kept samples alone ...
    torch.testing.assert_close(loss.mean(), F.cross_entropy(logits[kept], y[kept], weight=weight))
    # ... so the dropped samples give no gradient, and every kept one does.
    loss.mean().backward()
    grad_norm = logits.grad.abs().sum(1)
    assert all(grad_norm[i] == 0 for i in dropped)
    assert all(grad_norm[i] > 0 for i in kept.tolist())


def test_ousm_ranks_by_the_plain_loss_not_the_class_weighted_one() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0], [3.0, 0.0]])
    target = F.one_hot(torch.tensor([1, 0, 0, 0]), 2).float()  # plain losses: 2.13, 1.31, 0.69, 0.05
    weight = torch.tensor([10.0, 0.1])  # the weighted values would rank sample 1 first
    loss = ousm_ce(logits, target, weight, 0.25)
    assert loss.values[0] == 0 and (loss.values[1:] > 0).all()
    # Per-sample weights still apply to the kept samples.
    w = torch.tensor([1.0, 0.0, 1.0, 1.0])
    expected = F.cross_entropy(logits[2:], torch.tensor([0, 0]), weight=weight)
    torch.testing.assert_close(loss.mean(w), expected)


# ------------------------------------------------------------------------ Eq. 1


def test_combined_loss_is_alpha_ousm_plus_beta_lambda_ce() -> None:
    torch.manual_seed(1)
    logits = torch.randn(16, 2, requires_grad=True)
    y = torch.randint(0, 2, (16,))
    target = F.one_hot(y, 2).float()
    weight = torch.tensor([0.7, 1.8])
    lam = torch.rand(16)
    loss = ousm_reweighted_ce(logits, target, weight, fraction=0.25, alpha=0.5, beta=0.5)
    assert isinstance(loss, CombinedSampleLoss)
    ce = F.cross_entropy(logits, y, weight=weight, reduction="none")
    mass = weight[y]
    keep = ousm_keep(F.cross_entropy(logits, y, reduction="none"), 0.25)
    assert (~keep).sum() == 4
    l_ousm = ce[keep].sum() / mass[keep].sum()
    torch.testing.assert_close(loss.mean(lam), 0.5 * l_ousm + 0.5 * (lam * ce).sum() / mass.sum())
    torch.testing.assert_close(loss.mean(), 0.5 * l_ousm + 0.5 * ce.sum() / mass.sum())
    torch.testing.assert_close(loss.values, 0.5 * keep * ce + 0.5 * ce)
    torch.testing.assert_close(loss.raw, ce)
    # A dropped sample's gradient comes from the lambda-weighted CE term only: zero when lambda is 0.
    lam0 = lam.clone()
    lam0[~keep] = 0
    loss.mean(lam0).backward()
    assert (logits.grad[~keep] == 0).all() and (logits.grad[keep].abs().sum(1) > 0).all()


# ------------------------------------------------------------------------ forward correction


def test_forward_loss_is_cross_entropy_on_t_multiplied_probabilities() -> None:
    torch.manual_seed(2)
    logits = torch.randn(12, 3)
    y = torch.randint(0, 3, (12,))
    target = F.one_hot(y, 3).float()
    t = torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.05, 0.15, 0.8]])
    weight = torch.tensor([1.0, 2.0, 0.5])
    noisy = torch.softmax(logits, 1) @ t
    loss = forward_corrected_ce(logits, target, None, t)
    torch.testing.assert_close(loss.values, F.nll_loss(noisy.log(), y, reduction="none"))
    weighted = forward_corrected_ce(logits, target, weight, t)
    torch.testing.assert_close(weighted.mean(), F.nll_loss(noisy.log(), y, weight=weight))
    # The identity matrix gives back the weighted cross-entropy.
    same = forward_corrected_ce(logits, target, weight, torch.eye(3))
    torch.testing.assert_close(same.values, weighted_ce(logits, target, weight).values)
    torch.testing.assert_close(same.mean(), weighted_ce(logits, target, weight).mean())


def _blobs(n: int = 2000):
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    y = np.repeat(np.arange(3), n)
    x = centres[y] + rng.normal(0, 1, (len(y), 2))
    density = np.stack([multivariate_normal(c, np.eye(2)).pdf(x) for c in centres], 1)
    return x, y, density / density.sum(1, keepdims=True)


KNOWN_T = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.05, 0.15, 0.8]])


def test_anchor_estimate_recovers_a_known_transition_matrix() -> None:
    x, y, clean_posterior = _blobs()
    # The exact noisy-label posterior p(y~ | x) = p(y | x) T: its anchors read T off to high precision.
    np.testing.assert_allclose(estimate_transition(clean_posterior @ KNOWN_T), KNOWN_T, atol=1e-6)
    # A model fitted to labels flipped by T (a smooth k-NN posterior) recovers T within a few points.
    noisy = transition_noise(y, KNOWN_T, seed=1)
    np.testing.assert_allclose(noisy.transition, KNOWN_T, atol=1e-12)
    probs = KNeighborsClassifier(n_neighbors=600).fit(x, noisy.labels).predict_proba(x)
    estimate = estimate_transition(probs)
    np.testing.assert_allclose(estimate, KNOWN_T, atol=0.05)
    np.testing.assert_allclose(estimate.sum(1), 1.0)


def test_forward_correction_undoes_the_noise_of_a_logistic_model() -> None:
    """Trained on T-flipped labels, a softmax model with the forward loss learns the clean posterior."""
    x, y, clean_posterior = _blobs(600)
    noisy = transition_noise(y, KNOWN_T, seed=2)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(noisy.labels)
    target = F.one_hot(yt, 3).float()

    def fit(loss_fn) -> np.ndarray:
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 3)
        opt = torch.optim.LBFGS(model.parameters(), max_iter=300, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(xt), target, None).mean()
            loss.backward()
            return loss

        opt.step(closure)
        return torch.softmax(model(xt), 1).detach().numpy()

    t = torch.tensor(KNOWN_T, dtype=torch.float32)
    corrected = fit(lambda logits, tgt, w: forward_corrected_ce(logits, tgt, w, t))
    plain = fit(weighted_ce)
    err_corrected = np.abs(corrected - clean_posterior).mean()
    err_plain = np.abs(plain - clean_posterior).mean()
    assert err_corrected < 0.05 < err_plain, (err_corrected, err_plain)


class _Predictor:
    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def predict(self, records, views=None):
        return self.probs


def test_transition_estimate_callback_sets_t_after_the_warmup() -> None:
    _, _, clean_posterior = _blobs(300)
    loss = ForwardCorrection()
    callback = TransitionEstimate(loss, after=3, quantile=0.97)
    trainer = _Predictor(clean_posterior @ KNOWN_T)
    logits, target = torch.randn(4, 3), F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    assert torch.equal(loss(logits, target, None).values, weighted_ce(logits, target, None).values)
    for epoch in (1, 2, 4):
        event = EpochEnd(trainer, epoch, [], None, {})  # type: ignore[arg-type]
        callback(event)
        assert loss.matrix is None and "forward_transition" not in event.row
    event = EpochEnd(trainer, 3, [], None, {})  # type: ignore[arg-type]
    callback(event)
    np.testing.assert_allclose(loss.matrix, KNOWN_T, atol=1e-3)
    assert np.allclose(event.row["forward_transition"], loss.matrix)
    t = torch.tensor(loss.matrix, dtype=torch.float32)
    torch.testing.assert_close(
        loss(logits, target, None).values, forward_corrected_ce(logits, target, None, t).values
    )
    with pytest.raises(ConfigError, match="3x3"):
        loss(torch.randn(2, 2), torch.eye(2), None)


# ------------------------------------------------------------------------ registry and config


def test_registry_builds_configured_losses_with_their_callbacks() -> None:
    assert {"weighted_ce", "ousm", "ousm_loop", "forward"} <= set(available_losses())
    plain = build_loss("weighted_ce", TrainConfig())
    assert plain.loss is weighted_ce and plain.callbacks == []
    options = {"reweight_after": 3, "reweight_every": 2, "neighbors": 7, "extent": 2.0, "fraction": 0.25}
    cfg = TrainConfig(loss="ousm_loop", loss_options=options)
    setup = build_loss("ousm_loop", cfg, 2)
    assert setup.callbacks == [LoopReweighting(after=3, every=2, n_neighbors=7, extent=2.0)]
    logits, target = torch.randn(8, 2), F.one_hot(torch.arange(8) % 2, 2).float()
    assert int((setup.loss(logits, target, None).keep == 0).sum()) == 2
    ousm = build_loss("ousm", TrainConfig(loss="ousm", loss_options={"fraction": 0.25}))
    assert ousm.callbacks == [] and int((ousm.loss(logits, target, None).values == 0).sum()) == 2
    forward = build_loss("forward", TrainConfig(loss="forward", loss_options={"warmup": 4, "quantile": 0.9}))
    (estimator,) = forward.callbacks
    assert isinstance(estimator, TransitionEstimate) and estimator.loss is forward.loss
    assert (estimator.after, estimator.quantile) == (4, 0.9)
    assert callable(get_loss("ousm_loop")) and callable(get_loss("forward"))
    with pytest.raises(ConfigError, match=r"unknown loss 'focal'.*ousm_loop"):
        build_loss("focal", TrainConfig())
    with pytest.raises(ValueError, match="registered twice"):
        register_loss_setup("ousm")(lambda config, n: LossSetup(weighted_ce))
    with pytest.raises(ConfigError, match="both be 0"):
        build_loss("ousm_loop", TrainConfig(loss="ousm_loop", loss_options={"alpha": 0, "beta": 0}))


@pytest.mark.parametrize("suffix", [".npy", ".json", ".csv"])
def test_forward_reads_a_transition_matrix_file(tmp_path: Path, suffix: str) -> None:
    t = np.array([[0.9, 0.1], [0.25, 0.75]])
    path = tmp_path / f"t{suffix}"
    if suffix == ".npy":
        np.save(path, t)
    elif suffix == ".json":
        path.write_text(json.dumps(t.tolist()))
    else:
        np.savetxt(path, t, delimiter=",")
    cfg = TrainConfig(loss="forward", loss_options={"matrix": str(path)})
    setup = build_loss("forward", cfg, 2)
    assert setup.callbacks == [] and np.allclose(setup.loss.matrix, t)
    with pytest.raises(ConfigError, match="3 classes"):
        build_loss("forward", cfg, 3)


def test_forward_matrix_errors_name_the_file(tmp_path: Path) -> None:
    def forward(matrix: Path) -> TrainConfig:
        return TrainConfig(loss="forward", loss_options={"matrix": str(matrix)})

    with pytest.raises(ConfigError, match=r"loss_options.matrix.*missing\.npy"):
        build_loss("forward", forward(tmp_path / "missing.npy"), 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("0.5,0.4\n0,1\n")
    with pytest.raises(ConfigError, match=r"bad\.csv.*summing to 1"):
        build_loss("forward", forward(bad), 2)


@pytest.mark.parametrize(
    ("loss", "option"),
    [
        ("ousm", {"fraction": 1.0}),
        ("ousm", {"fraction": -0.1}),
        ("ousm_loop", {"alpha": -1}),
        ("ousm_loop", {"reweight_every": 0}),
        ("ousm_loop", {"reweight_after": 0}),
        ("ousm_loop", {"neighbors": 0}),
        ("ousm_loop", {"extent": 0}),
        ("ousm_loop", {"neighbors": True}),
        ("forward", {"quantile": 0}),
        ("forward", {"quantile": 1.5}),
        ("forward", {"warmup": 0}),
        ("forward", {"matrix": ""}),
        ("ousm", {"fraction": float("nan")}),
    ],
)
def test_loss_options_are_bounded(loss: str, option: dict) -> None:
    """Each loss's own options model checks its options, naming the loss and the option."""
    config = load_config(TrainRunConfig, {"train": {"loss": loss, "loss_options": option}})
    with pytest.raises(ConfigError, match=f"train.loss_options of loss '{loss}': {next(iter(option))}"):
        build_loss(loss, config.train, 2)


def test_every_loss_is_selectable_in_train_and_experiment_configs(capsys) -> None:
    for name in ("ousm", "ousm_loop", "forward"):
        run = load_config(TrainRunConfig, {"train": {"loss": name, "loss_options": {}}})
        exp = load_config(ExperimentConfig, {"train": {"loss": name}})
        assert run.train.loss == exp.train.loss == name
    # The old flat fields still read, onto the loss that reads them, with a warning saying the new form.
    old = load_config(
        TrainRunConfig, {"train": {"loss": "ousm_loop", "ousm_fraction": 0.2, "loop_extent": 2}}
    )
    assert old.train.loss_options == {"fraction": 0.2, "extent": 2}
    err = capsys.readouterr().err
    assert "train.ousm_fraction is deprecated: write train.loss_options: {fraction: 0.2}" in err
    assert "train.loop_extent is deprecated: write train.loss_options: {extent: 2}" in err
    ignored = load_config(TrainRunConfig, {"train": {"loss": "weighted_ce", "forward_warmup": 3}})
    assert ignored.train.loss_options == {}
    assert (
        "forward_warmup is deprecated and ignored: loss 'weighted_ce' does not read it"
        in capsys.readouterr().err
    )


def test_unknown_loss_options_name_the_loss_and_its_options() -> None:
    config = TrainConfig(loss="ousm_loop", loss_options={"fractoin": 0.2})
    with pytest.raises(
        ConfigError,
        match=r"^train.loss_options of loss 'ousm_loop': unknown option\(s\) fractoin; "
        r"valid options: fraction \(default 0.1\), alpha",
    ):
        build_loss("ousm_loop", config, 2)
    with pytest.raises(ConfigError, match=r"loss 'weighted_ce': unknown option.*; it takes no options"):
        build_loss("weighted_ce", TrainConfig(loss_options={"fraction": 0.1}), 2)


# ------------------------------------------------------------------------ through the trainer


@pytest.fixture(scope="module")
def lite0():
    return create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)


@pytest.fixture
def splits(tiny_isic: TinyIsic, offline_single_thread: None) -> dict:
    ds = load_isic2017(tiny_isic.root)
    return {s: ds.split(s) for s in ("train", "val")}


def _config(**overrides) -> TrainConfig:
    return tiny_train_config(**{"epochs": 3, "patience": 5, **overrides})


@pytest.mark.slow
def test_ousm_loop_fit_reweights_after_the_configured_epoch(lite0, splits: dict, tmp_path: Path) -> None:
    cfg = load_config(
        TrainRunConfig,
        {
            "train": {
                **_config().model_dump(),
                "loss": "ousm_loop",
                "loss_options": {"reweight_after": 2, "reweight_every": 5},
            }
        },
    ).train
    seen: list[np.ndarray | None] = []
    expected: dict[int, np.ndarray] = {}
    labels = np.array([r.label for r in splits["train"]])

    def record(event: EpochEnd) -> None:  # runs after the loss's own callback
        seen.append(None if event.sample_weights is None else event.sample_weights.copy())
        if event.epoch == 2:
            emb = event.trainer.embed(event.train)
            defaults = OusmLoopOptions()
            expected[2] = 1.0 - local_outlier_probabilities(emb, labels, defaults.neighbors, defaults.extent)

    trainer = Trainer(copy.deepcopy(lite0), cfg, cache_dir=tmp_path, callbacks=[record])
    assert isinstance(trainer.callbacks[0], LoopReweighting) and trainer.callbacks[1] is record
    result = trainer.fit(splits["train"], splits["val"], ["other", "melanoma"])
    assert len(result.history) == 3 and all(np.isfinite(r["train_loss"]) for r in result.history)
    assert seen[0] is None  # epoch 1: every weight 1
    np.testing.assert_allclose(seen[1], expected[2], rtol=1e-5)  # computed after epoch 2
    assert not np.allclose(seen[1], 1.0) and (seen[1] >= 0).all() and (seen[1] <= 1).all()
    np.testing.assert_array_equal(seen[2], seen[1])  # epoch 3 trained with them; not recomputed
    assert "loop_mean_weight" in result.history[1]
    assert "loop_mean_weight" not in result.history[0] and "loop_mean_weight" not in result.history[2]


@pytest.mark.slow
def test_ousm_and_forward_fits_run_end_to_end(lite0, splits: dict, tmp_path: Path) -> None:
    result = Trainer(copy.deepcopy(lite0), _config(loss="ousm", epochs=2), cache_dir=tmp_path).fit(
        splits["train"], splits["val"]
    )
    assert all(np.isfinite(r["train_loss"]) for r in result.history)
    trainer = Trainer(
        copy.deepcopy(lite0),
        _config(loss="forward", loss_options={"warmup": 1}, epochs=2),
        cache_dir=tmp_path,
    )
    result = trainer.fit(splits["train"], splits["val"])
    t = np.array(result.history[0]["forward_transition"])
    assert t.shape == (2, 2) and np.allclose(t.sum(1), 1.0)
    assert np.array_equal(trainer.loss_fn.matrix, t) and "forward_transition" not in result.history[1]
    assert np.isfinite(result.history[1]["train_loss"])


@pytest.mark.slow
def test_choose_ousm_fraction_uses_the_validation_split(lite0, splits: dict, tmp_path: Path) -> None:
    cfg = _config(loss="ousm", epochs=1)
    best, scores = choose_ousm_fraction(
        lambda: copy.deepcopy(lite0),
        cfg,
        splits["train"],
        splits["val"],
        candidates=(0.0, 0.25),
        cache_dir=tmp_path,
    )
    assert set(scores) == {0.0, 0.25} and best == max(scores, key=lambda f: scores[f])
    fit = Trainer(copy.deepcopy(lite0), cfg.updated(loss_options={"fraction": 0.25}), cache_dir=tmp_path).fit(
        splits["train"], splits["val"]
    )
    assert scores[0.25] == pytest.approx(fit.best_score)  # the validation score of that fraction
    with pytest.raises(ConfigError, match="ousm or ousm_loop"):
        choose_ousm_fraction(lambda: lite0, _config(), splits["train"], splits["val"])
    with pytest.raises(ConfigError, match="labelled validation"):
        choose_ousm_fraction(lambda: lite0, cfg, splits["train"], [])
