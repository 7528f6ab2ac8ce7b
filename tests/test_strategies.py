"""Strategy tests: a shared template every registered strategy must pass, then strategy-specific checks.

The template is parametrised over `available_strategies()`, so a newly registered strategy is tested
without anyone editing this file.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.stats import chisquare, entropy

import lesionlab.selection.base as base_module
from lesionlab.errors import ConfigError
from lesionlab.selection.base import (
    Evidence,
    Selection,
    Strategy,
    available_strategies,
    evidence_kinds,
    get_strategy,
    register_strategy,
    top_k,
)

N_POOL = 50
N_CLASSES = 3


def full_evidence(n: int = N_POOL, seed: int = 0) -> Evidence:
    """Synthetic evidence with every field filled, so any strategy has what it needs."""
    rng = np.random.default_rng(seed)
    alpha = np.ones(N_CLASSES)
    mc_probs = rng.dirichlet(alpha, size=(5, n))
    ensemble_probs = rng.dirichlet(alpha, size=(3, n))
    return Evidence(
        ids=np.array([f"img_{i:03d}" for i in range(n)]),
        probs=mc_probs.mean(axis=0),
        mc_probs=mc_probs,
        ensemble_probs=ensemble_probs,
        embeddings=rng.normal(size=(n, 8)),
        labeled_embeddings=rng.normal(size=(10, 8)),
        features={"pca": rng.normal(size=(n, 4))},
        predicted_loss=rng.normal(size=n),
        vaal_scores=rng.random(n),
        ssl_features=rng.normal(size=(n, 8)),
        pixel_uncertainty={"entropy": rng.random(n), "confidence": rng.random(n)},
        pixel_mutual_information=rng.random(n),
        pixel_ensemble={"variance": rng.random(n), "js": rng.random(n)},
        patch_probs=rng.dirichlet(alpha, size=(n, 8)),
    )


def without(evidence: Evidence, kind: str) -> Evidence:
    """The same evidence with one field missing, as a collector that skipped it would hand over."""
    return evidence.replace(**{kind: None})


def only(evidence: Evidence, kinds: frozenset[str]) -> Evidence:
    """The same evidence keeping just the fields in `kinds`."""
    return evidence.only(kinds)


def select(name: str, evidence: Evidence, budget: int, seed: int = 0) -> Selection:
    return get_strategy(name).select(evidence, budget, np.random.default_rng(seed))


STRATEGIES = available_strategies()


# --- shared template ---------------------------------------------------------------------------------


def test_builtin_strategies_registered() -> None:
    expected = {"random", "least_confidence", "margin", "entropy", "bald", "ensemble_variance", "ensemble_js"}
    assert expected <= set(STRATEGIES)


@pytest.mark.parametrize("name", STRATEGIES)
def test_declares_known_requirements(name: str) -> None:
    strategy = get_strategy(name)
    assert strategy.name == name
    assert isinstance(strategy.requires, frozenset)
    assert strategy.requires <= set(evidence_kinds())


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("budget", [1, 7, N_POOL - 1])
def test_budget_unique_and_from_pool(name: str, budget: int) -> None:
    evidence = full_evidence()
    selection = select(name, evidence, budget)
    assert isinstance(selection, Selection)
    assert len(selection.ids) == budget
    assert len(set(selection.ids.tolist())) == budget
    assert set(selection.ids.tolist()) <= set(evidence.ids.tolist())
    assert len(selection.scores) == budget
    assert np.all(np.isfinite(selection.scores))


@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_under_seed(name: str) -> None:
    evidence = full_evidence()
    first, second = select(name, evidence, 10, seed=3), select(name, evidence, 10, seed=3)
    np.testing.assert_array_equal(first.ids, second.ids)
    np.testing.assert_array_equal(first.scores, second.scores)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("budget", [N_POOL, N_POOL + 25])
def test_budget_at_least_pool_returns_whole_pool(name: str, budget: int) -> None:
    evidence = full_evidence()
    selection = select(name, evidence, budget)
    assert sorted(selection.ids.tolist()) == sorted(evidence.ids.tolist())
    assert np.all(np.isfinite(selection.scores))


@pytest.mark.parametrize("name", STRATEGIES)
def test_scores_ranked_highest_first(name: str) -> None:
    selection = select(name, full_evidence(), N_POOL)
    assert np.all(np.diff(selection.scores) <= 0)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("budget", [0, -1, -N_POOL, 2.5, True, "3"])
def test_bad_budget_raises(name: str, budget: object) -> None:
    with pytest.raises(ValueError, match="budget"):
        select(name, full_evidence(), budget)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", STRATEGIES)
def test_runs_on_only_what_it_requires(name: str) -> None:
    strategy = get_strategy(name)
    evidence = only(full_evidence(), strategy.requires)
    assert len(select(name, evidence, 5).ids) == 5


@pytest.mark.parametrize(
    ("name", "kind"),
    [(name, kind) for name in STRATEGIES for kind in sorted(get_strategy(name).requires)],
)
def test_missing_required_evidence_raises(name: str, kind: str) -> None:
    with pytest.raises(ValueError, match=kind):
        select(name, without(full_evidence(), kind), 5)


def test_rejects_mismatched_evidence() -> None:
    """Rows that do not match the ids are refused at construction, before any strategy sees them."""
    evidence = full_evidence()
    with pytest.raises(ValueError):
        evidence.replace(ids=evidence.ids[:-1])


@pytest.mark.parametrize("name", STRATEGIES)
def test_never_changes_the_evidence_it_is_given(name: str) -> None:
    evidence = full_evidence()
    before = {k: copy.deepcopy(v) for k, v in evidence.arrays.items()}
    select(name, evidence, 7)
    for kind, value in before.items():
        if isinstance(value, dict):
            for key, arr in value.items():
                np.testing.assert_array_equal(
                    evidence.arrays[kind][key], arr, err_msg=f"{name} changed {kind}"
                )
        else:
            np.testing.assert_array_equal(evidence.arrays[kind], value, err_msg=f"{name} changed {kind}")


DOCUMENTED = [(name, params) for name in STRATEGIES for params in get_strategy(name).documented_params]


@pytest.mark.parametrize(("name", "params"), DOCUMENTED, ids=[f"{n}-{p}" for n, p in DOCUMENTED])
def test_documented_parameters_pass_the_template(name: str, params: dict) -> None:
    """Each parameter set the docs give builds, selects a full unique budget, and repeats under a seed."""
    strategy = get_strategy(name, **params)
    evidence = only(full_evidence(), strategy.requires)
    first = strategy.select(evidence, 9, np.random.default_rng(5))
    again = strategy.select(evidence, 9, np.random.default_rng(5))
    assert len(set(first.ids.tolist())) == 9
    np.testing.assert_array_equal(first.ids, again.ids)
    assert np.all(np.diff(first.scores) <= 0)


def test_dual_criteria_documents_paper000s_setting() -> None:
    assert {"gamma": 0.7, "n_buckets": 10, "n_components": 1} in get_strategy(
        "dual_criteria"
    ).documented_params


def test_name_comes_from_the_registration_alone() -> None:
    class Unnamed(Strategy):
        requires = frozenset()

    registered = register_strategy("test_only_unnamed")(Unnamed)
    try:
        assert get_strategy("test_only_unnamed").name == "test_only_unnamed" == registered.name

        class Clash(Strategy):
            name = "something_else"

        with pytest.raises(ValueError, match="says name 'something_else' but registers 'test_only_clash'"):
            register_strategy("test_only_clash")(Clash)
    finally:
        base_module.STRATEGIES.unregister("test_only_unnamed")


# --- contract helpers --------------------------------------------------------------------------------


def test_get_strategy_unknown_lists_choices() -> None:
    with pytest.raises(ConfigError) as info:
        get_strategy("nope")
    message = str(info.value)
    assert "nope" in message
    for name in STRATEGIES:
        assert name in message


def test_get_strategy_bad_params() -> None:
    with pytest.raises(ConfigError, match=r"strategy 'entropy': unknown option.*no_such_param; it takes no"):
        get_strategy("entropy", no_such_param=1)
    with pytest.raises(ConfigError, match=r"'vaal': unknown option\(s\) latentdim; valid options: latent_"):
        get_strategy("vaal", latentdim=8)


def test_top_k_breaks_ties_by_seed_not_pool_order() -> None:
    evidence = Evidence(ids=np.array([f"img_{i:03d}" for i in range(20)]))
    firsts = {top_k(evidence, np.zeros(20), 1, np.random.default_rng(s)).ids[0] for s in range(20)}
    assert len(firsts) > 1


def test_top_k_rejects_wrong_score_count() -> None:
    evidence = Evidence(ids=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="one score per"):
        top_k(evidence, np.zeros(2), 1, np.random.default_rng(0))


def test_require_features_treats_empty_as_missing() -> None:
    with pytest.raises(ValueError, match="features"):
        Evidence(ids=np.array(["a"])).require("features")


def test_feature_rows_must_match_ids() -> None:
    with pytest.raises(ValueError, match="pca"):
        Evidence(ids=np.array(["a", "b"]), features={"pca": np.zeros((3, 4))})


# --- probability-based strategies --------------------------------------------------------------------

# Rows 1 and 3 are the uncertain ones; row 3 (uniform) the most uncertain by every measure.
HAND_PROBS = np.array(
    [
        [0.98, 0.01, 0.01],
        [0.40, 0.35, 0.25],
        [0.90, 0.05, 0.05],
        [1 / 3, 1 / 3, 1 / 3],
        [0.05, 0.90, 0.05],
    ]
)


def hand_evidence(probs: np.ndarray = HAND_PROBS) -> Evidence:
    return Evidence(ids=np.array([f"img_{i:03d}" for i in range(len(probs))]), probs=probs)


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy"])
def test_picks_obviously_uncertain_rows(name: str) -> None:
    selection = select(name, hand_evidence(), 2)
    assert selection.ids.tolist() == ["img_003", "img_001"]


def test_least_confidence_score() -> None:
    selection = select("least_confidence", hand_evidence(), 5)
    expected = np.sort(1 - HAND_PROBS.max(axis=1))[::-1]
    np.testing.assert_allclose(selection.scores, expected)


def test_margin_score() -> None:
    selection = select("margin", hand_evidence(), 5)
    by_id = dict(zip(selection.ids.tolist(), selection.scores, strict=True))
    assert by_id["img_001"] == pytest.approx(-(0.40 - 0.35))
    assert by_id["img_003"] == pytest.approx(0.0)
    assert by_id["img_000"] == pytest.approx(-0.97)


def test_margin_differs_from_least_confidence_when_second_class_matters() -> None:
    # Same top probability, but row 1's runner-up is much closer: only margin tells them apart.
    probs = np.array([[0.5, 0.25, 0.25], [0.5, 0.45, 0.05]])
    assert select("margin", hand_evidence(probs), 1).ids.tolist() == ["img_001"]


def test_entropy_agrees_with_scipy() -> None:
    probs = full_evidence().probs
    selection = select("entropy", full_evidence(), N_POOL)
    index = np.array([int(i.split("_")[1]) for i in selection.ids])
    np.testing.assert_allclose(selection.scores, entropy(probs[index], axis=1))
    assert selection.scores[0] == pytest.approx(entropy(probs, axis=1).max())


def test_binary_probs_work() -> None:
    p = np.array([0.1, 0.55, 0.9, 0.7])
    probs = np.stack([1 - p, p], axis=1)
    for name in ["least_confidence", "margin", "entropy"]:
        assert select(name, hand_evidence(probs), 1).ids.tolist() == ["img_001"]


@pytest.mark.parametrize(
    "probs",
    [
        np.array([[2.0, -1.0, 0.5]]),  # logits, not probabilities
        np.array([[0.5, 0.2, 0.2]]),  # does not sum to one
        np.array([[np.nan, 0.5, 0.5]]),
        np.array([[0.3], [0.7]]),  # a single column
    ],
)
def test_rejects_non_probabilities(probs: np.ndarray) -> None:
    with pytest.raises(ValueError, match="probs"):
        select("entropy", hand_evidence(probs), 1)


# --- committee / MC strategies -----------------------------------------------------------------------


def agreeing_and_disagreeing(samples: int) -> np.ndarray:
    """(samples, 2, 2): row 0 every sample says 50/50; row 1 samples split 0.99/0.01 vs 0.01/0.99.

    Both rows have the same mean (0.5, 0.5), so only a disagreement measure tells them apart.
    """
    agree = np.tile([0.5, 0.5], (samples, 1))
    split = np.array([[0.99, 0.01] if t % 2 == 0 else [0.01, 0.99] for t in range(samples)])
    return np.stack([agree, split], axis=1)


def test_bald_zero_when_samples_agree_high_when_they_disagree() -> None:
    mc = agreeing_and_disagreeing(6)
    np.testing.assert_allclose(mc.mean(axis=0)[0], mc.mean(axis=0)[1])
    evidence = Evidence(ids=np.array(["agree", "split"]), mc_probs=mc)
    selection = select("bald", evidence, 2)
    by_id = dict(zip(selection.ids.tolist(), selection.scores, strict=True))
    assert selection.ids[0] == "split"
    assert by_id["agree"] == pytest.approx(0.0, abs=1e-12)
    expected = entropy([0.5, 0.5]) - entropy([0.99, 0.01])
    assert by_id["split"] == pytest.approx(expected)
    assert by_id["split"] > 0.5


@pytest.mark.parametrize("name", ["ensemble_js", "ensemble_variance"])
def test_ensemble_zero_when_members_agree_high_when_they_disagree(name: str) -> None:
    members = agreeing_and_disagreeing(4)
    evidence = Evidence(ids=np.array(["agree", "split"]), ensemble_probs=members)
    selection = select(name, evidence, 2)
    by_id = dict(zip(selection.ids.tolist(), selection.scores, strict=True))
    assert selection.ids[0] == "split"
    assert by_id["agree"] == pytest.approx(0.0, abs=1e-12)
    assert by_id["split"] > 0.2


def test_ensemble_variance_value() -> None:
    members = agreeing_and_disagreeing(4)
    evidence = Evidence(ids=np.array(["agree", "split"]), ensemble_probs=members)
    selection = select("ensemble_variance", evidence, 1)
    assert selection.scores[0] == pytest.approx(0.49**2)  # each class: +-0.49 around 0.5


def test_ensemble_js_equals_mean_kl_to_mixture() -> None:
    members = np.random.default_rng(1).dirichlet(np.ones(4), size=(3, 6))
    evidence = Evidence(ids=np.array([f"img_{i:03d}" for i in range(6)]), ensemble_probs=members)
    selection = select("ensemble_js", evidence, 6)
    index = np.array([int(i.split("_")[1]) for i in selection.ids])
    mixture = members.mean(axis=0)
    js = np.mean([entropy(members[m], mixture, axis=1) for m in range(3)], axis=0)
    np.testing.assert_allclose(selection.scores, js[index], atol=1e-12)


# --- random ------------------------------------------------------------------------------------------


def test_random_is_approximately_uniform() -> None:
    n, budget, trials = 20, 5, 400
    evidence = Evidence(ids=np.array([f"img_{i:03d}" for i in range(n)]))
    counts = dict.fromkeys(evidence.ids.tolist(), 0)
    for seed in range(trials):
        for picked in select("random", evidence, budget, seed=seed).ids.tolist():
            counts[picked] += 1
    observed = np.array(list(counts.values()))
    assert observed.sum() == budget * trials
    assert chisquare(observed).pvalue > 1e-3


def test_random_differs_across_seeds() -> None:
    evidence = full_evidence()
    first, second = select("random", evidence, 10, seed=0), select("random", evidence, 10, seed=1)
    assert first.ids.tolist() != second.ids.tolist()


def test_binary_uncertainty_rankings_coincide() -> None:
    """With two classes, least confidence, margin and entropy are monotone in max p: same picks, same order.

    benchmarks/al_baselines.py relies on this to train least confidence once for all three.
    """
    rng = np.random.default_rng(3)
    p1 = rng.random(200)
    evidence = Evidence(ids=np.array([f"img_{i:03d}" for i in range(200)]), probs=np.c_[1 - p1, p1])
    picks = [
        get_strategy(name).select(evidence, 37, np.random.default_rng(11)).ids.tolist()
        for name in ("least_confidence", "margin", "entropy")
    ]
    assert picks[0] == picks[1] == picks[2]
