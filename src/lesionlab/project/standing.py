"""Who stands on which image, and what their consensus label is: the reads behind training, export,
status, the queue and the adjudication queue.

A person's standing annotation of an image is their newest one not retracted (saving again retracts the
older one; undo retracts the newest). An image's label is the consensus of its people's standing labels
(`lesionlab.project.consensus`: majority of `overlap` people; ties and disagreements are unresolved until a
reviewer's "adjudication" annotation decides). Masks are fused in `Project`, which holds the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from lesionlab.project.consensus import USABLE, Consensus, class_consensus
from lesionlab.project.models import Annotation, ImageRow

RATER_SOURCES = ("expert", "import")  # annotations that count as a person's answer (one per person)
LABEL_SOURCES = RATER_SOURCES  # the name older code uses


def kind_of(kind: str) -> Any:
    """The SQL condition for an annotation of `kind`: a class "label" or a "mask" file."""
    return Annotation.label.is_not(None) if kind == "label" else Annotation.mask_path.is_not(None)


@dataclass(frozen=True)
class LabelEntry:
    """An image's consensus label with who gave it, when and how (what export writes)."""

    image_id: str
    label: int
    annotator: str
    source: str
    created_at: datetime
    annotation_id: int
    mask_path: str | None = None


@dataclass
class Standing:
    """One image's standing annotations of one kind: one per person, and a reviewer's decision if any
    (read-only rows with the `annotations` table's columns as attributes)."""

    image_id: str
    image_key: int
    raters: dict[str, Any] = field(default_factory=dict)
    adjudication: Any = None


class StandingMixin:
    """Reads of `ProjectStore` (needs `session`, `overlap`, `kind`, `classes`)."""

    def standing(self, kind: str | None = None, image_id: str | None = None) -> dict[str, Standing]:
        """Each usable image with a standing annotation of `kind` (default: the task's), by image id."""
        kind = kind or self.kind
        # Plain rows (the table's columns as attributes), not ORM objects: the queue reads this on every
        # request, and building 10,000 ORM objects takes most of a second.
        query = (
            select(*Annotation.__table__.columns, ImageRow.image_id.label("image_id_"))
            .join(ImageRow, ImageRow.key == Annotation.image_key)
            .where(
                ImageRow.status == "ok",
                Annotation.retracted_at.is_(None),
                Annotation.source.in_((*RATER_SOURCES, "adjudication")),
                kind_of(kind),
            )
            .order_by(Annotation.id)
        )
        if image_id is not None:
            query = query.where(ImageRow.image_id == image_id)
        with self.session() as s:
            rows = s.execute(query).all()
        out: dict[str, Standing] = {}
        for a in rows:  # oldest first: a newer row of the same person replaces an older one
            st = out.setdefault(a.image_id_, Standing(a.image_id_, a.image_key))
            if a.source == "adjudication":
                st.adjudication = a
            else:
                st.raters[a.annotator] = a
        return out

    @staticmethod
    def _standing_ids(s: Any, image_id: str, kind: str) -> list[int]:
        """The ids `standing` gives the image (each person's newest answer of `kind`, and the newest
        decision), read under the image row's lock in the caller's transaction: what a decision checks
        it was made on, atomically with storing it."""
        key = s.scalar(select(ImageRow.key).where(ImageRow.image_id == image_id).with_for_update())
        rows = s.execute(
            select(Annotation.id, Annotation.annotator, Annotation.source)
            .where(
                Annotation.image_key == key,
                Annotation.retracted_at.is_(None),
                Annotation.source.in_((*RATER_SOURCES, "adjudication")),
                kind_of(kind),
            )
            .order_by(Annotation.id)
        ).all()
        raters = {a.annotator: a.id for a in rows if a.source != "adjudication"}
        decided = [a.id for a in rows if a.source == "adjudication"][-1:]
        return sorted([*raters.values(), *decided])

    def _label_now(self, s: Any, image_key: int) -> int | None:
        """The image's usable consensus label read in the caller's transaction (after its lock), as
        `labels` gives it: what a flag's decision checks it was made on, atomically with storing it."""
        rows = s.execute(
            select(Annotation.annotator, Annotation.source, Annotation.label)
            .where(
                Annotation.image_key == image_key,
                Annotation.retracted_at.is_(None),
                Annotation.source.in_((*RATER_SOURCES, "adjudication")),
                kind_of("label"),
            )
            .order_by(Annotation.id)
        ).all()
        raters = {a.annotator: a.label for a in rows if a.source != "adjudication"}
        decided = [a.label for a in rows if a.source == "adjudication"][-1:]
        cons = class_consensus(list(raters.values()), self.overlap, (decided or [None])[0])
        return cons.label if cons.status in USABLE else None

    def label_consensus(self, image_id: str | None = None) -> dict[str, tuple[Consensus, Standing]]:
        """(Consensus, Standing) of each image with a standing class label."""
        out = {}
        for iid, st in self.standing("label", image_id).items():
            labels = [a.label for a in st.raters.values()]
            decided = st.adjudication.label if st.adjudication is not None else None
            out[iid] = (class_consensus(labels, self.overlap, decided, self.classes), st)
        return out

    def label_entries(self) -> dict[str, LabelEntry]:
        """Each usable image's consensus label, for images whose consensus is decided."""
        entries = {}
        for iid, (cons, st) in self.label_consensus().items():
            if cons.status not in USABLE or cons.label is None:
                continue
            if cons.status == "adjudicated" and st.adjudication is not None:
                rows, source = [st.adjudication], "adjudication"
            else:
                rows = [a for a in st.raters.values() if a.label == cons.label]
                sources = {a.source for a in rows}
                source = sources.pop() if len(sources) == 1 and len(rows) == 1 else "consensus"
            newest = max(rows, key=lambda a: a.id)
            who = "+".join(sorted(a.annotator for a in rows))
            entries[iid] = LabelEntry(iid, cons.label, who, source, newest.created_at, newest.id)
        return entries

    def labels(self, image_id: str | None = None) -> dict[str, int]:
        """{image id: consensus label} of the images whose consensus is decided (what training uses)."""
        return {
            iid: cons.label
            for iid, (cons, _) in self.label_consensus(image_id).items()
            if cons.status in USABLE and cons.label is not None
        }

    def annotated_ids(self) -> set[str]:
        """Images that are done as far as the queue and `propose` are concerned: `overlap` people stand on
        them with the task's kind of annotation (a mask in a segmentation project, else a class label),
        or a reviewer decided them."""
        return {
            iid
            for iid, st in self.standing().items()
            if len(st.raters) >= self.overlap or st.adjudication is not None
        }

    def masked_ids(self) -> set[str]:
        """Usable images someone stands on with a mask."""
        return set(self.standing("mask"))

    def model_mask_path(self, image_id: str) -> str | None:
        """The newest mask the model proposed for the image (relative to the project folder), or None."""
        found = self.model_mask(image_id)
        return found[0] if found else None

    def model_mask(self, image_id: str) -> tuple[str, str] | None:
        """(file, who: "model vN") of the newest mask the model proposed for the image, or None."""
        with self.session() as s:
            row = s.execute(
                select(Annotation.mask_path, Annotation.annotator)
                .join(ImageRow, ImageRow.key == Annotation.image_key)
                .where(
                    ImageRow.image_id == image_id,
                    Annotation.mask_path.is_not(None),
                    Annotation.retracted_at.is_(None),
                    Annotation.source == "model",
                )
                .order_by(Annotation.id.desc())
                .limit(1)
            ).first()
        return (row[0], row[1]) if row else None

    def annotators(self) -> dict[str, int]:
        """Per person, the images they stand on with an expert label or mask (masks count too)."""
        images: dict[str, set[str]] = {}
        for kind in ("label", "mask"):
            for iid, st in self.standing(kind).items():
                for name, a in st.raters.items():
                    if a.source == "expert":
                        images.setdefault(name, set()).add(iid)
        return {name: len(ids) for name, ids in sorted(images.items())}

    def seconds_by_annotator(self) -> dict[str, list[float]]:
        """Per person, the seconds each standing expert annotation took (lease start to save)."""
        out: dict[str, list[float]] = {}
        for kind in ("label", "mask"):
            for st in self.standing(kind).values():
                for name, a in st.raters.items():
                    if a.source == "expert" and a.seconds is not None:
                        out.setdefault(name, []).append(float(a.seconds))
        return out
