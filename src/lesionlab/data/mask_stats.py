"""How much of each mask is foreground, and when a set of masks is too degenerate to train on.

A mask that decodes empty (or full) trains a model to predict nothing (or everything) and ends at a Dice
near 0 with no error anywhere; these numbers make that visible in `describe` and stop segmentation
training before it starts. Thresholds are documented in docs/checks.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesionlab.data.records import listed
from lesionlab.errors import DataError

# `describe` warns when more than WARN_EMPTY of the masks are empty, at any full mask, and when the median
# mask covers more than WARN_INVERTED of its image (the masks probably mark the skin, not the lesion).
WARN_EMPTY = 0.10
WARN_INVERTED = 0.70
# ... and names each mask covering more than WARN_NEARLY_FULL of its image: one inverted mask among right
# ones (lesion dark on white) moves neither the median nor the full count. The project's import uses it too.
WARN_NEARLY_FULL = 0.95
# Segmentation training refuses a data set with more than REFUSE_DEGENERATE of its masks empty (or full).
REFUSE_DEGENERATE = 0.50

_FIX = (
    "check the masks folder and mask_pattern, and that lesions are drawn bright (non-zero) on a black "
    "or transparent background (the mask rule in docs/checks.md)"
)


@dataclass(frozen=True)
class MaskSummary:
    """Foreground fractions of a data set's readable masks: the spread, and the empty and full counts."""

    n: int
    low: float
    median: float
    high: float
    empty: int
    full: int
    folder: Path | None  # where most of the masks are, for messages
    nearly_full: tuple[str, ...] = ()  # names of the masks above WARN_NEARLY_FULL, not full

    @classmethod
    def of(cls, fractions: Mapping[Path, float]) -> MaskSummary:
        values = np.array(list(fractions.values()), dtype=np.float64)
        if values.size == 0:
            return cls(0, 0.0, 0.0, 0.0, 0, 0, None)
        parents = Counter(Path(p).parent for p in fractions)
        return cls(
            n=int(values.size),
            low=float(values.min()),
            median=float(np.median(values)),
            high=float(values.max()),
            empty=int((values == 0.0).sum()),
            full=int((values == 1.0).sum()),
            folder=parents.most_common(1)[0][0],
            nearly_full=tuple(Path(p).name for p, f in fractions.items() if WARN_NEARLY_FULL < f < 1.0),
        )

    def lines(self) -> list[str]:
        """What `describe` prints: the spread, then one warning line per degenerate sign."""
        if self.n == 0:
            return []
        out = [
            f"masks: foreground {_pct(self.low)} min / {_pct(self.median)} median / {_pct(self.high)} "
            f"max of each image; {self.empty} empty, {self.full} full (of {self.n})"
        ]
        refusal = self.refusal()
        if refusal is not None:
            out.append(f"warning: segmentation training refuses these masks: {refusal}")
            return out
        if self.empty > WARN_EMPTY * self.n:
            out.append(
                f"warning: {self.empty} of {self.n} masks in {self.folder} are empty "
                f"(more than {WARN_EMPTY:.0%}); {_FIX}"
            )
        if self.full:
            out.append(
                f"warning: {self.full} of {self.n} masks in {self.folder} are full (every pixel is lesion); "
                f"{_FIX}"
            )
        if self.nearly_full:
            names = listed(list(self.nearly_full))
            out.append(
                f"warning: {len(self.nearly_full)} of {self.n} masks cover more than "
                f"{100 * WARN_NEARLY_FULL:.0f} % of their image (inverted? lesions must be the bright "
                f"part): {names}"
            )
        if self.median > WARN_INVERTED:
            out.append(
                f"warning: the median mask in {self.folder} covers {_pct(self.median)} of its image; are the "
                "masks inverted (lesion dark on white)? Lesions must be the bright part"
            )
        return out

    def refusal(self) -> str | None:
        """Why training must not start on these masks (more than half empty, or full), or None."""
        for count, what in ((self.empty, "empty"), (self.full, "full")):
            if count > REFUSE_DEGENERATE * self.n:
                return (
                    f"{count} of {self.n} masks in {self.folder} are {what} (more than "
                    f"{REFUSE_DEGENERATE:.0%}); {_FIX}"
                )
        return None


def check_masks(fractions: Mapping[Path, float]) -> None:
    """DataError (one line naming the folder and the fix) when the masks are mostly empty or full: a
    segmentation model would learn, or be scored on, nothing. Below that, the warnings `describe` gives
    (many empty masks, a full one, inverted masks) are printed on stderr: a command that trains or
    scores on them says so too, not only `describe`, which a user may never run."""
    summary = MaskSummary.of(fractions)
    refusal = summary.refusal()
    if refusal is not None:
        raise DataError(
            f"masks unusable for segmentation: {refusal}; "
            "`lesionlab datasets describe` shows each mask's share"
        )
    for line in summary.lines()[1:]:
        print(line, file=sys.stderr, flush=True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"
