"""The one table every data source produces: a record per image, plus the task's class names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lesionlab.errors import DataError

SPLITS = ("train", "val", "test")
# How many ids or files a message lists before saying "and N more".
SHOWN = 5


def listed(items: Sequence[object], shown: int = SHOWN) -> str:
    """`a, b, c and 4 more`: enough to find the problem, short enough for one line."""
    head = ", ".join(str(i) for i in items[:shown])
    return head + (f" and {len(items) - shown} more" if len(items) > shown else "")


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
    """Records of one source and task, with the class names the integer labels index into.

    Binary tasks order their classes [negative, positive]: metrics treat index 1 as positive.
    `positive_guessed` says the source chose the positive class itself (`positive_rule` says how) rather
    than being told or knowing it. `labels_file` is where labels come from (for messages); `unlisted` are
    images found beside the labelled ones that the labels do not mention (and so are ignored).
    """

    name: str
    task: str
    classes: list[str]
    records: list[Record] = field(default_factory=list)
    positive_guessed: bool = False
    positive_rule: str = ""
    labels_file: Path | None = None
    unlisted: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [r.id for r in self.records]
        if len(set(ids)) != len(ids):
            dup = next(i for i, c in Counter(ids).items() if c > 1)
            raise ValueError(f"duplicate image id {dup!r} in data source {self.name}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def positive_class(self) -> str | None:
        """The class binary metrics call positive (index 1); None for multi-class tasks."""
        return self.classes[1] if len(self.classes) == 2 else None

    def split(self, *names: str, labeled_only: bool = False) -> list[Record]:
        """Records whose split is one of `names`, in source order; only labelled ones with `labeled_only`
        (e.g. to score a test split in which some labels are still blank)."""
        return [r for r in self.records if r.split in names and not (labeled_only and r.label is None)]

    def require_labels(self, *names: str) -> None:
        """DataError naming the records of splits `names` that have no label (e.g. training needs all)."""
        blank = [r.id for r in self.split(*names) if r.label is None]
        if blank:
            where = f" in {self.labels_file}" if self.labels_file else ""
            raise DataError(
                f"{len(blank)} image(s) of the {' / '.join(names)} split have no label{where}: "
                f"{listed(blank)}. Fill in their labels, or move them to another split."
            )

    def subset(self, records: Iterable[Record]) -> LabeledDataset:
        return replace(self, classes=list(self.classes), records=list(records))

    def class_counts(self, records: Sequence[Record] | None = None) -> dict[str, int]:
        counts = Counter(r.label for r in (self.records if records is None else records))
        out = {c: counts.get(i, 0) for i, c in enumerate(self.classes)}
        if counts.get(None):
            out["(unlabelled)"] = counts[None]
        return out

    def summary(self) -> str:
        """A table of counts per split and class, then notes (positive class, ignored files)."""
        splits = [s for s in SPLITS if self.split(s)] + sorted({r.split for r in self.records} - set(SPLITS))
        width = max([len(c) for c in self.classes] + [12])
        # A folder source's task is only a name ("folder" unless the config gives one): not a setting to echo
        task = "" if self.task == self.name else f"task: {self.task}, "
        lines = [f"{self.name} ({task}{len(self.records)} images, {self.num_classes} classes)"]
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
        if self.positive_class is not None:
            how = f" (guessed: {self.positive_rule})" if self.positive_guessed else ""
            lines.append(f"positive class: {self.positive_class}{how}")
        if self.unlisted:
            where = f" {self.labels_file}" if self.labels_file else " the labels"
            lines.append(
                f"note: {len(self.unlisted)} image(s) have no row in{where} and are ignored: "
                f"{listed([p.name for p in self.unlisted])}"
            )
        return "\n".join(lines)
