"""ACFT (Zhou et al. 2021, "Active, Continual Fine Tuning of Convolutional Neural Networks for Reducing
Annotation Efforts"): select candidates by the entropy and diversity of their patches.

Each unlabelled image is a candidate with m augmented patches (`lesionlab.data.patches`); the current
model's predictions over them arrive as `patch_probs` (N, m, C). Per candidate (Alg. 1 lines 3-8):

- majority selection (Eq. 3, Sec. 3.3): the dominant class is the argmax of the mean prediction (ties go
  to the lower class index, as numpy's argmax); the patches are sorted by their probability of it and the
  top ceil(alpha * m) kept (alpha = 1/4: 3 of 11 patches in Table 1, 6 of 24), so patches that augmentation
  made "hard" (noisy labels at the patch level) do not drive the score;
- entropy e_i = -(1/k) sum_j sum_c P log P and diversity d_i = sum_c sum_j sum_{l >= j} (P_j - P_l) log(P_j
  / P_l) over the k kept patches (Eq. 1), a_i = lambda1 e_i + lambda2 d_i (Eq. 2);
- a probability of exactly 0 is read as float64's machine epsilon (2.22e-16) inside the logarithms, so
  0 log 0 = 0 in the entropy and a 0-vs-p pair adds p * log(p / eps) ~ 36 p to the diversity. This is the
  epsilon that reproduces every diversity value printed in Table 1 (`tests/test_acft.py`).

Randomisation (Eq. 4, Sec. 3.4): the candidates are sorted by a_i, the top omega * b kept (omega = 5),
their scores rescaled to [0, 1] between the (omega b)-th and the first, and b drawn without replacement
with probabilities proportional to the rescaled scores (the (omega b)-th has probability 0).

Strategies: `acft_entropy`, `acft_diversity`, `acft_entropy_diversity` (majority and randomness on by
default, each switchable: the columns of Table 4) and `aift` (the earlier AIFT of Zhou et al., CVPR 2017:
entropy + diversity over all patches, the top b, no majority selection and no randomness; Zhou et al. list
randomisation, H u Q and multi-class among its additions but not majority selection, so
`aift(majority=True)` is the other reading).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from lesionlab.data.patches import DEFAULT_PATCHES
from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy, top_k

EPS = float(np.finfo(np.float64).eps)  # stands in for a probability of 0 inside log (see above)
PAPER_ALPHA = 0.25  # majority selection ratio (Sec. 4.2.2)
PAPER_OMEGA = 5  # random extension (Sec. 4.2.2)
_SUM_TOLERANCE = 1e-3


def check_patch_probs(patch_probs: Any) -> np.ndarray:
    """(N, m, C) float64 probabilities, refused with a readable message when they are anything else."""
    arr = np.asarray(patch_probs, dtype=float)
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 2:
        raise ValueError(
            f"evidence patch_probs must be (N candidates, m patches, C >= 2 classes), got shape {arr.shape}"
        )
    if arr.size and (
        not np.all(np.isfinite(arr))
        or arr.min() < -_SUM_TOLERANCE
        or not np.allclose(arr.sum(axis=-1), 1.0, atol=_SUM_TOLERANCE)
    ):
        raise ValueError(
            "evidence patch_probs must hold probabilities (finite, >= 0, summing to 1 per patch)"
        )
    return np.clip(arr, 0.0, None)


def n_majority(n_patches: int, alpha: float) -> int:
    """How many patches majority selection keeps: ceil(alpha * m), at least one (3 of 11 at 1/4)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    return max(1, math.ceil(alpha * n_patches - 1e-9))


def majority_indices(patch_probs: np.ndarray, alpha: float = PAPER_ALPHA) -> np.ndarray:
    """(N, k): which k = ceil(alpha m) patches of each candidate are most confident in its dominant class
    (Eq. 3, Alg. 1 lines 5-6), most confident first; equal confidences keep the patches' order."""
    probs = check_patch_probs(patch_probs)
    k = n_majority(probs.shape[1], alpha)
    dominant = probs.mean(axis=1).argmax(axis=1)  # (N,)
    confidence = np.take_along_axis(probs, dominant[:, None, None], axis=2)[:, :, 0]  # (N, m)
    return np.argsort(-confidence, axis=1, kind="stable")[:, :k]


def majority_patches(patch_probs: np.ndarray, alpha: float = PAPER_ALPHA) -> np.ndarray:
    """(N, k, C): the patches `majority_indices` keeps, in its order."""
    probs = check_patch_probs(patch_probs)
    return np.take_along_axis(probs, majority_indices(probs, alpha)[:, :, None], axis=1)


def patch_entropy(patch_probs: np.ndarray) -> np.ndarray:
    """(N,) e_i of Eq. 1: the mean over a candidate's patches of each patch's entropy (nats)."""
    probs = check_patch_probs(patch_probs)
    return -(probs * np.log(np.maximum(probs, EPS))).sum(axis=2).mean(axis=1)


def patch_diversity(patch_probs: np.ndarray) -> np.ndarray:
    """(N,) d_i of Eq. 1: sum over classes and patch pairs l >= j of (P_j - P_l) log(P_j / P_l), a
    symmetric KL-like disagreement that is 0 when every patch predicts the same."""
    probs = np.maximum(check_patch_probs(patch_probs), EPS)
    logs = np.log(probs)
    # The summand is symmetric in (j, l) and 0 on the diagonal, so pairs l >= j are half of all pairs.
    # One candidate at a time keeps the (m, m, C) temporaries small whatever N is.
    out = np.empty(len(probs))
    for i, (p, lp) in enumerate(zip(probs, logs, strict=True)):
        out[i] = 0.5 * ((p[:, None, :] - p[None, :, :]) * (lp[:, None, :] - lp[None, :, :])).sum()
    return out


def acft_scores(
    patch_probs: np.ndarray,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    majority: bool = True,
    alpha: float = PAPER_ALPHA,
) -> np.ndarray:
    """(N,) a_i = lambda1 e_i + lambda2 d_i (Eq. 2), over the majority patches or all of them."""
    probs = majority_patches(patch_probs, alpha) if majority else check_patch_probs(patch_probs)
    scores = np.zeros(len(probs))
    if lambda1:
        scores += lambda1 * patch_entropy(probs)
    if lambda2:
        scores += lambda2 * patch_diversity(probs)
    return scores


def sampling_probabilities(sorted_scores: np.ndarray) -> np.ndarray:
    """Eq. 4 on scores sorted in descending order: rescale so the first is 1 and the last 0, then
    normalise. All-equal scores (nothing to prefer) give equal probabilities."""
    a = np.asarray(sorted_scores, dtype=float)
    if a.ndim != 1 or not len(a):
        raise ValueError("need a non-empty vector of sorted scores")
    if np.any(np.diff(a) > 0):
        raise ValueError("scores must be sorted in descending order")
    spread = a[0] - a[-1]
    if not spread > 0:
        return np.full(len(a), 1.0 / len(a))
    scaled = (a - a[-1]) / spread
    return scaled / scaled.sum()


def randomized_pick(scores: np.ndarray, budget: int, omega: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of `budget` candidates drawn as Sec. 3.4 does: the top omega * budget by score (ties broken
    at random), sampled without replacement with Eq. 4's probabilities. Returned highest score first.

    When fewer of them than `budget` have a probability above 0 (a budget close to the pool, or ties at the
    bottom of the extended pool), those all come first and the rest follow in score order.
    """
    budget = check_budget(budget)
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    budget = min(budget, n)
    if omega < 1:
        raise ValueError(f"omega (the random extension) must be >= 1, got {omega}")
    order = np.lexsort((rng.random(n), -scores))
    extended = order[: min(n, max(budget, math.ceil(omega * budget)))]
    p = sampling_probabilities(scores[extended])
    positive = np.flatnonzero(p > 0)
    if len(positive) >= budget:
        chosen = extended[rng.choice(len(extended), size=budget, replace=False, p=p)]
    else:
        rest = np.setdiff1d(np.arange(len(extended)), positive)[: budget - len(positive)]
        chosen = extended[np.concatenate([positive, rest])]
    return chosen[np.lexsort((np.arange(len(chosen)), -scores[chosen]))]


class _Acft(Strategy):
    """The shared selection; subclasses fix the criterion (lambda1, lambda2) of their name."""

    requires = frozenset({"patch_probs"})
    default_lambdas: ClassVar[tuple[float, float]] = (1.0, 1.0)
    default_switches: ClassVar[tuple[bool, bool]] = (True, True)  # majority, randomness
    # Table 4's columns for this criterion: majority and randomness on or off.
    documented_params: ClassVar[tuple[dict[str, Any], ...]] = tuple(
        {"majority": m, "randomness": r} for m in (False, True) for r in (False, True)
    )

    def __init__(
        self,
        majority: bool | None = None,
        randomness: bool | None = None,
        alpha: float = PAPER_ALPHA,
        omega: float = PAPER_OMEGA,
        patches: int = DEFAULT_PATCHES,
        lambda1: float | None = None,
        lambda2: float | None = None,
    ) -> None:
        self.majority = self.default_switches[0] if majority is None else bool(majority)
        self.randomness = self.default_switches[1] if randomness is None else bool(randomness)
        n_majority(2, alpha)  # validates alpha
        if omega < 1:
            raise ValueError(f"omega (the random extension) must be >= 1, got {omega}")
        if int(patches) != patches or patches < 1:
            raise ValueError(f"patches must be a whole number >= 1, got {patches}")
        self.alpha, self.omega, self.patches = float(alpha), float(omega), int(patches)
        l1, l2 = self.default_lambdas
        self.lambda1 = l1 if lambda1 is None else float(lambda1)
        self.lambda2 = l2 if lambda2 is None else float(lambda2)
        if self.lambda1 < 0 or self.lambda2 < 0 or not (self.lambda1 or self.lambda2):
            raise ValueError("lambda1 and lambda2 must be >= 0 and not both 0")

    def evidence_options(self) -> dict[str, dict[str, Any]]:
        return {"patch_probs": {"patches": self.patches}}

    def scores(self, evidence: Evidence) -> np.ndarray:
        """a_i of every candidate (Eq. 2), the ranking Alg. 1 line 9 sorts by."""
        return acft_scores(
            evidence.require("patch_probs"), self.lambda1, self.lambda2, self.majority, self.alpha
        )

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        scores = self.scores(evidence)
        if not self.randomness:
            return top_k(evidence, scores, budget, rng)
        picked = randomized_pick(scores, budget, self.omega, rng)
        return Selection(ids=evidence.ids[picked], scores=scores[picked])


@register_strategy("acft_entropy")
class AcftEntropy(_Acft):
    """ACFT with entropy (lambda1 = 1, lambda2 = 0), + majority + randomness by default."""

    default_lambdas = (1.0, 0.0)


@register_strategy("acft_diversity")
class AcftDiversity(_Acft):
    """ACFT with diversity (lambda1 = 0, lambda2 = 1), + majority + randomness by default."""

    default_lambdas = (0.0, 1.0)


@register_strategy("acft_entropy_diversity")
class AcftEntropyDiversity(_Acft):
    """ACFT with entropy + diversity (lambda1 = lambda2 = 1; the paper leaves the balance open)."""

    default_lambdas = (1.0, 1.0)


@register_strategy("aift")
class Aift(_Acft):
    """AIFT (Zhou et al., CVPR 2017): entropy + diversity of all patches, the top b candidates, no
    majority selection and no randomness (`majority=True` gives the reading with majority selection)."""

    default_lambdas = (1.0, 1.0)
    default_switches = (False, False)
    documented_params = ({},)
