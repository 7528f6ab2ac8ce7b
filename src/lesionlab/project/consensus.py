"""One answer per image from several annotators' answers: what training and export use.

The rules (docs/annotation.md, "Overlap and consensus"):

- **Classes.** With fewer standing answers than the project's `overlap`, an image is *incomplete* (still in
  the queue). Otherwise a class named by a strict majority (more than half of the answers) is the consensus:
  *agreed* when the answers are unanimous, *majority* when not (kept, and shown to reviewers). Without a
  strict majority (two annotators disagreeing, or a three-way split) it is *unresolved*: it goes to the
  adjudication queue and is left out of training and export until a reviewer decides.
- **Masks.** The fused mask is a pixel vote (foreground where more than half the annotators drew it: the
  pixels both of two drew, the majority of three; a pixel only half of them drew is a tie, and a tie is no
  decision, as for classes: it is background), a simple relative of STAPLE (Warfield et al. 2004,
  "Simultaneous truth and performance level estimation (STAPLE)") that needs no iterations and gives every
  annotator one vote. When the annotators' masks overlap too little (mean pairwise Dice below `min_dice`)
  the image is *unresolved*; otherwise *agreed* (masks always differ by a few pixels, so a Dice above
  `min_dice` is agreement).
- **The adjudication queue** holds the unresolved images (blocking) and the class majorities with a
  dissenting vote (not blocking: the majority is used until a reviewer decides otherwise).
- **Adjudication** by a reviewer always wins (*adjudicated*).

Pure functions of the answers, so the store, the server, `status` and the tests share them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

STATUSES = ("agreed", "majority", "unresolved", "incomplete", "adjudicated")
USABLE = frozenset({"agreed", "majority", "adjudicated"})  # what training and export take


@dataclass(frozen=True)
class Consensus:
    """One image's consensus: its status, the class (classification) and why, in one sentence."""

    status: str
    label: int | None
    reason: str

    @property
    def usable(self) -> bool:
        """Training and export take it."""
        return self.status in USABLE

    @property
    def needs_review(self) -> bool:
        """In the adjudication queue: a dissenting vote (majority) or no consensus at all (unresolved)."""
        return self.status in ("majority", "unresolved")


def _check_overlap(overlap: int) -> None:
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 1:
        raise ValueError(f"overlap must be a whole number >= 1, got {overlap!r}")


def class_consensus(
    labels: Sequence[int],
    overlap: int,
    adjudicated: int | None = None,
    names: Sequence[str] | None = None,
) -> Consensus:
    """The consensus of one image's standing class labels (one per distinct person).

    `names` (the project's classes) only make the reason readable."""
    _check_overlap(overlap)

    def name(k: int) -> str:
        return names[k] if names is not None and 0 <= k < len(names) else str(k)

    if adjudicated is not None:
        return Consensus("adjudicated", int(adjudicated), f"decided by a reviewer: {name(adjudicated)}")
    if len(labels) < overlap:
        return Consensus("incomplete", None, f"{len(labels)} of {overlap} annotations so far")
    votes = Counter(int(v) for v in labels)
    ranked = votes.most_common()
    counts = ", ".join(f"{n} {name(k)}" for k, n in sorted(votes.items()))
    top, n_top = ranked[0]
    if n_top * 2 > len(labels):
        status = "agreed" if n_top == len(labels) else "majority"
        return Consensus(status, top, f"{status}: {counts}")
    why = "tie" if len(ranked) > 1 and ranked[1][1] == n_top else "no majority"
    return Consensus("unresolved", None, f"{why}: {counts}")


# Named in the consensus files' digests: files fused by an earlier rule are never read as this one's.
FUSE_RULE = "strict-majority"


def fuse_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Pixel vote over boolean masks of one shape: foreground where more than half of them are. A 1-1 tie
    adds no pixel only one person drew (the union of two did), as a class tie names no class."""
    if not masks:
        raise ValueError("fuse_masks needs at least one mask")
    shapes = {np.shape(m) for m in masks}
    if len(shapes) != 1:
        raise ValueError(f"masks of one image must share one shape, got {sorted(shapes)}")
    votes = np.sum([np.asarray(m, dtype=bool) for m in masks], axis=0)
    return votes * 2 > len(masks)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks; two empty masks agree perfectly (1.0)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks must share one shape, got {a.shape} and {b.shape}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def mean_pairwise_dice(masks: Sequence[np.ndarray]) -> float | None:
    """Mean Dice over every pair of masks (None for fewer than two)."""
    pairs = [dice(a, b) for a, b in combinations(masks, 2)]
    return float(np.mean(pairs)) if pairs else None


def mask_consensus(
    masks: Sequence[np.ndarray],
    overlap: int,
    min_dice: float = 0.8,
    adjudicated: np.ndarray | None = None,
) -> tuple[Consensus, np.ndarray | None]:
    """The consensus of one image's standing masks (one per distinct person) and the mask to train on."""
    _check_overlap(overlap)
    if not 0.0 <= min_dice <= 1.0:
        raise ValueError(f"min_dice must lie in [0, 1], got {min_dice!r}")
    if adjudicated is not None:
        return Consensus("adjudicated", None, "decided by a reviewer"), np.asarray(adjudicated, dtype=bool)
    if len(masks) < overlap:
        return Consensus("incomplete", None, f"{len(masks)} of {overlap} masks so far"), None
    agreement = mean_pairwise_dice(masks)
    if agreement is not None and agreement < min_dice:
        reason = f"masks disagree: mean Dice {agreement:.2f} < {min_dice:.2f}"
        return Consensus("unresolved", None, reason), None
    shown = "one mask" if agreement is None else f"mean Dice {agreement:.2f}"
    return Consensus("agreed", None, f"agreed: {shown}"), fuse_masks(masks)
