"""reproduction.md's full-data and test-time-rule figures, read from their results files (the table's
columns: tests/doc_figures.py; the other sections' rows are in tests/test_doc_figures_*.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids, load, ms, per_seed, spread, values_at

FULL = "full_data.json"
HAM = "results/ham10000_7class"
REPRO = "docs/reproduction.md"
QUOTES: list[Quote] = []

# --------------------------------------------------------------------------- reproduction.md: full data
_ISIC = "AUC {:.3f} ± {:.3f}, ACC {:.3f} ± {:.3f}, AP {:.3f} ± {:.3f}, SE {:.3f} ± {:.3f}, SP {:.3f} ± {:.3f}"
_HAM = "accuracy {:.3f} ± {:.3f}, balanced accuracy {:.3f} ± {:.3f}, macro AUC {:.3f} ± {:.3f}"
_ISIC_KEYS = ("auc", "accuracy", "ap", "sensitivity", "specificity")
_HAM_KEYS = ("accuracy", "balanced_accuracy", "macro_auc")


def _block(path: str, metrics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(k for m in metrics for k in ms(f"{path}/{m}"))


def _by_mean(candidate: str) -> Callable[[dict], tuple]:
    """ham_selection.py's first criterion: the epoch with the best mean of val accuracy and balanced
    accuracy."""

    def pick(d: dict) -> tuple:
        e = max(
            d["per_candidate"][candidate]["history"],
            key=lambda e: e["val_accuracy"] + e["val_balanced_accuracy"],
        )
        mean = (e["val_accuracy"] + e["val_balanced_accuracy"]) / 2
        return e["epoch"], e["val_accuracy"], e["val_balanced_accuracy"], e["val_macro_auc"], mean

    return pick


QUOTES += [
    Quote(
        REPRO,
        "ISIC 2017 task 1 (melanoma) | " + _ISIC,
        FULL,
        _block("results/isic2017_melanoma", _ISIC_KEYS),
        _ISIC,
    ),
    Quote(
        REPRO,
        "ISIC 2017 task 2 (seb. keratosis) | " + _ISIC,
        FULL,
        _block("results/isic2017_seborrheic_keratosis", _ISIC_KEYS),
        _ISIC,
    ),
    Quote(
        REPRO, "chosen on validation by the issue's targets) | " + _HAM, FULL, _block(HAM, _HAM_KEYS), _HAM
    ),
    Quote(
        REPRO,
        "chosen by the criterion fixed first) | " + _HAM,
        FULL,
        _block(f"{HAM}/preregistered_rule", _HAM_KEYS),
        _HAM,
    ),
    Quote(
        REPRO,
        "one plain prediction per image | " + _HAM,
        FULL,
        _block(f"{HAM}/plain_prediction", _HAM_KEYS),
        _HAM,
    ),
    Quote(
        REPRO,
        "4 views averaged, no adjustment | " + _HAM,
        FULL,
        _block(f"{HAM}/by_views_without_adjustment/4", _HAM_KEYS),
        _HAM,
    ),
    Quote(
        REPRO,
        "6 epochs (`full_data.json` at commit a1ebf55) | " + _HAM,
        f"{FULL}@a1ebf55",
        _block(HAM, _HAM_KEYS),
        _HAM,
    ),
    Quote(
        REPRO,
        "6 epochs (`full_data.json` at commit a033791) | " + _HAM,
        f"{FULL}@a033791",
        _block(HAM, _HAM_KEYS),
        _HAM,
    ),
    Quote(REPRO, "the first HAM10000 runs (3572 s", f"{FULL}@a033791", "wall_seconds", "({:.0f} s"),
    Quote(REPRO, "took 29 min on 2 threads (1745 s)", f"{FULL}@a1ebf55", f"{HAM}/wall_seconds", "({:.0f} s)"),
    Quote(
        REPRO,
        "Best epochs: task 1 [7, 6, 8], task 2 [5, 6, 11]",
        FULL,
        ("results/isic2017_melanoma/best_epoch", "results/isic2017_seborrheic_keratosis/best_epoch"),
        "task 1 {}, task 2 {}",
    ),
    Quote(
        REPRO,
        "0.806 ± 0.002 (seeds 0.803, 0.810, 0.804)",
        FULL,
        lambda d: (
            *values_at(d, ms(f"{HAM}/accuracy")),
            *per_seed(f"{HAM}/per_seed", "metrics_by_views/8/accuracy")(d),
        ),
        "{:.3f} ± {:.3f} (seeds {:.3f}, {:.3f}, {:.3f})",
    ),
]


SEL, TTA = "ham_selection.json", "ham_tta.json"


def _rule(views: int, tau: float) -> Callable[[dict], tuple]:
    def pick(d: dict) -> tuple:
        r = next(r for r in d["rules"] if r["tta_views"] == views and r["tau"] == tau)
        return r["accuracy"], r["balanced_accuracy"], r["score"]

    return pick


def _test_rule(views: int, tau: float) -> Callable[[dict], tuple]:
    """full_data.py's test numbers of a rule: (accuracy, balanced accuracy) mean ± se."""

    def pick(d: dict) -> tuple:
        h = get(d, HAM)
        block = h["preregistered_rule"] if tau else h["by_views_without_adjustment"][str(views)]
        return (*values_at(block, ms("accuracy")), *values_at(block, ms("balanced_accuracy")))

    return pick


QUOTES += [
    Quote(
        REPRO,
        "| **sqrt** | **3** | **{}** | **{:.3f}** | **{:.3f}** | **{:.3f}** | **{:.3f}** |",
        SEL,
        _by_mean("sqrt@3"),
    ),
    Quote(REPRO, "| sqrt | 5 | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |", SEL, _by_mean("sqrt@5")),
    Quote(REPRO, "| balanced | 5 | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |", SEL, _by_mean("balanced@5")),
    Quote(
        REPRO,
        "| none (plain cross-entropy) | 5 | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |",
        SEL,
        _by_mean("none@5"),
    ),
    Quote(
        REPRO,
        "with benign keratosis recall {:.3f}-{:.3f} over the seeds (mean {:.3f})",
        FULL,
        lambda d: spread(per_seed(f"{HAM}/per_seed", "per_class_recall/bkl")(d)),
    ),
    Quote(
        REPRO,
        "against {:.3f}-{:.3f} (mean {:.3f}) at freeze 5",
        f"{FULL}@a1ebf55",
        lambda d: spread(per_seed(f"{HAM}/per_seed", "per_class_recall/bkl")(d)),
    ),
    Quote(
        REPRO,
        "(seeds: {:.3f}, {:.3f}, {:.3f}; +0.023)",
        FULL,
        per_seed(f"{HAM}/per_seed", "metrics_by_views/1/accuracy"),
    ),
    Quote(
        REPRO,
        "70-74 min per seed on one contended thread in that run ({:.1f}-{:.1f} train images/s",
        f"{FULL}@35eb5c7",
        lambda d: spread(per_seed(f"{HAM}/per_seed", "train_images_per_second")(d))[:2],
    ),
    Quote(
        REPRO,
        "the current models' runs {:.0f}-{:.0f} min at {:.1f}-{:.1f} images/s",
        FULL,
        lambda d: (
            *[v / 60 for v in spread(per_seed(f"{HAM}/per_seed", "wall_seconds")(d))[:2]],
            *spread(per_seed(f"{HAM}/per_seed", "train_images_per_second")(d))[:2],
        ),
    ),
    Quote(
        REPRO,
        "against {:.0f}-{:.0f} images/s at freeze 5 on 2 threads",
        f"{FULL}@a1ebf55",
        lambda d: spread(per_seed(f"{HAM}/per_seed", "train_images_per_second")(d))[:2],
    ),
    Quote(
        REPRO,
        "and {:.0f} min for the selection run",
        SEL,
        lambda d: d["per_candidate"]["sqrt@3"]["wall_seconds"] / 60,
    ),
    Quote(
        REPRO,
        "| 1 | 0 | {:.3f} | {:.3f} | {:.3f} | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} |",
        TTA,
        lambda d: (*_rule(1, 0.0)(d), *_test_rule(1, 0)(load(FULL))),
    ),
    Quote(
        REPRO,
        "| 4 | 0 | {:.3f} | {:.3f} | {:.3f} | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} |",
        TTA,
        lambda d: (*_rule(4, 0.0)(d), *_test_rule(4, 0)(load(FULL))),
    ),
    Quote(
        REPRO,
        "| **8** | **0** | **{:.3f}** | {:.3f} | {:.3f} | **{:.3f} ± {:.3f}** | {:.3f} ± {:.3f} |",
        TTA,
        lambda d: (*_rule(8, 0.0)(d), *_test_rule(8, 0)(load(FULL))),
    ),
    Quote(
        REPRO,
        "| 4 | 0.5 | {:.3f} | **{:.3f}** | **{:.3f}** | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} |",
        TTA,
        lambda d: (*_rule(4, 0.5)(d), *_test_rule(4, 0.5)(load(FULL))),
    ),
    Quote(REPRO, "| 8 | 0.25 | {:.3f} | {:.3f} | {:.3f} | — | — |", TTA, _rule(8, 0.25)),
    Quote(
        REPRO,
        "(val accuracy {:.3f}, balanced accuracy {:.3f})",
        "ham_tta_split1.json",
        lambda d: _rule(8, 0.0)(d)[:2],
    ),
    Quote(
        REPRO,
        "8 views with tau 0.25 (score {:.3f}, against {:.3f} for split 0's pick",
        "ham_tta_split1.json",
        lambda d: (_rule(8, 0.25)(d)[2], _rule(4, 0.5)(d)[2]),
    ),
    Quote(
        REPRO,
        "`results/ham_tta_split1.md`, {:.0f} min on 2 threads",
        "ham_tta_split1.json",
        lambda d: d["wall_seconds"] / 60,
    ),
    Quote(REPRO, "(15 rules scored in {:.0f} s;", TTA, "wall_seconds"),
    Quote(
        REPRO,
        "HAM10000 seed 56-76 min on 1 thread (training {:.0f}-{:.0f} min",
        FULL,
        lambda d: tuple(v / 60 for v in spread(per_seed(f"{HAM}/per_seed", "train_seconds")(d))[:2]),
    ),
]


def _rule_test(block: str, metric: str) -> str:
    return f"{HAM}/{block}/{metric}" if block else f"{HAM}/{metric}"


QUOTES += [
    Quote(
        REPRO,
        "the mean of accuracy and balanced accuracy: {:.3f} ± {:.3f})",
        FULL,
        ms(f"{HAM}/preregistered_rule/accuracy"),
    ),
    Quote(
        REPRO,
        "It chooses 8 views, no adjustment: test accuracy {:.3f} ± {:.3f}, balanced accuracy {:.3f} ±"
        " {:.3f}.",
        FULL,
        (*ms(f"{HAM}/accuracy"), *ms(f"{HAM}/balanced_accuracy")),
    ),
    Quote(
        REPRO,
        "the test accuracies they lead to differ by {:.3f}, and the rule now reported clears 0.80 by"
        " {:.3f} (every"
        " seed: {:.3f}, {:.3f}, {:.3f})",
        FULL,
        lambda d: (
            get(d, f"{HAM}/accuracy/mean") - get(d, f"{HAM}/preregistered_rule/accuracy/mean"),
            get(d, f"{HAM}/accuracy/mean") - 0.80,
            *per_seed(f"{HAM}/per_seed", "metrics_by_views/8/accuracy")(d),
        ),
    ),
    Quote(
        REPRO,
        "(+{:.3f} test accuracy and +{:.3f} macro AUC at 4 views, over all three seeds)",
        FULL,
        lambda d: tuple(
            get(d, f"{HAM}/by_views_without_adjustment/4/{m}/mean")
            - get(d, f"{HAM}/plain_prediction/{m}/mean")
            for m in ("accuracy", "macro_auc")
        ),
    ),
    Quote(
        REPRO,
        "on test it costs {:.3f} accuracy for {:.3f} balanced accuracy",
        FULL,
        lambda d: (
            get(d, f"{HAM}/by_views_without_adjustment/4/accuracy/mean")
            - get(d, f"{HAM}/preregistered_rule/accuracy/mean"),
            get(d, f"{HAM}/preregistered_rule/balanced_accuracy/mean")
            - get(d, f"{HAM}/by_views_without_adjustment/4/balanced_accuracy/mean"),
        ),
    ),
    Quote(
        REPRO,
        "scores best on validation (accuracy {:.3f}, balanced accuracy {:.3f})",
        SEL,
        lambda d: _by_mean("sqrt@3")(d)[1:3],
    ),
    Quote(
        REPRO,
        "Plain cross-entropy (`none`) buys almost no validation accuracy ({:+.3f}) for {:.2f} of"
        " balanced accuracy",
        SEL,
        lambda d: (
            _by_mean("none@5")(d)[1] - _by_mean("sqrt@5")(d)[1],
            _by_mean("sqrt@5")(d)[2] - _by_mean("none@5")(d)[2],
        ),
    ),
]


def _auc_gap(d: dict) -> tuple:
    gaps = [
        d["paper000"][t]["auc"] - d["results"][t]["auc"]["mean"]
        for t in ("isic2017_melanoma", "isic2017_seborrheic_keratosis")
    ]
    return max(gaps), *gaps


QUOTES += [
    Quote(
        REPRO,
        "Our AUCs are within {:.3f} of the paper's ResNet-101 on both tasks ({:.3f} below on task 1,"
        " {:.3f} on task 2)",
        FULL,
        _auc_gap,
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
