"""The one table every data source produces: a record per image, plus the task's class names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Record:
    """One image: where it is, its label index (None when not yet known), its mask, split and group.

    `group` keeps related images (e.g. HAM10000's `lesion_id`) on the same side of any split.
    """

    id: str
    image_path: Path
    label: int | None
    mask_path: Path | None = None
    split: str = "train"
    group: str | None = None


@dataclass
class LabeledDataset:
    """Records of one source and task, with the class names the integer labels index into."""

    name: str
    task: str
    classes: list[str]
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [r.id for r in self.records]
        if len(set(ids)) != len(ids):
            dup = next(i for i, c in Counter(ids).items() if c > 1)
            raise ValueError(f"duplicate image id {dup!r} in data source {self.name}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, *names: str) -> list[Record]:
        """Records whose split is one of `names`, in source order."""
        return [r for r in self.records if r.split in names]

    def subset(self, records: Iterable[Record]) -> LabeledDataset:
        return LabeledDataset(self.name, self.task, list(self.classes), list(records))

    def class_counts(self, records: Sequence[Record] | None = None) -> dict[str, int]:
        counts = Counter(r.label for r in (self.records if records is None else records))
        out = {c: counts.get(i, 0) for i, c in enumerate(self.classes)}
        if counts.get(None):
            out["(unlabelled)"] = counts[None]
        return out

    def summary(self) -> str:
        """A human-readable table of counts per split and class."""
        splits = [s for s in SPLITS if self.split(s)] + sorted({r.split for r in self.records} - set(SPLITS))
        width = max([len(c) for c in self.classes] + [12])
        lines = [f"{self.name} (task: {self.task}, {len(self.records)} images, {self.num_classes} classes)"]
        header = "class".ljust(width) + "".join(s.rjust(8) for s in splits) + "total".rjust(8)
        lines += [header, "-" * len(header)]
        per_split = {s: self.class_counts(self.split(s)) for s in splits}
        names = list(self.classes) + (
            ["(unlabelled)"] if any("(unlabelled)" in v for v in per_split.values()) else []
        )
        for c in names:
            row = [per_split[s].get(c, 0) for s in splits]
            lines.append(c.ljust(width) + "".join(str(n).rjust(8) for n in row) + str(sum(row)).rjust(8))
        totals = [len(self.split(s)) for s in splits]
        lines.append(
            "total".ljust(width) + "".join(str(n).rjust(8) for n in totals) + str(sum(totals)).rjust(8)
        )
        masks = sum(r.mask_path is not None for r in self.records)
        if masks:
            lines.append(f"masks: {masks} of {len(self.records)} images")
        return "\n".join(lines)
