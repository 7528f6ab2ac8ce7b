"""The project store: images, the append-only label history, proposal rounds, model versions and audit
flags, over the database of `project.database` (SQLite or PostgreSQL).

`ProjectStore` implements the `LabelStore` protocol of `lesionlab.loop.oracles`, so a `StoreOracle` over it
answers a runner's queries with the experts' labels; the rest of its methods are what the commands and the
server need. Every write is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lesionlab.errors import DataError, LesionlabError
from lesionlab.project.database import make_engine, migrate
from lesionlab.project.models import (
    Annotation,
    AuditFlag,
    ImageRow,
    ModelVersion,
    Proposal,
    ProposalRound,
    Skip,
    utcnow,
)

LABEL_SOURCES = ("expert", "import")  # what counts as a label (model pre-labels do not)


class NotYours(DataError):
    """An undo of an annotation the asking annotator did not give as an expert."""


class AlreadyReviewed(DataError):
    """An audit flag that already has an outcome (another reviewer, or a retried request, was first)."""


@dataclass(frozen=True)
class LabelEntry:
    """An image's standing label with who gave it, when and how (what export writes)."""

    image_id: str
    label: int
    annotator: str
    source: str
    created_at: datetime
    annotation_id: int
    mask_path: str | None = None


class ProjectStore:
    """The project's database behind the `LabelStore` protocol and the project's own queries."""

    def __init__(self, url: str, classes: Sequence[str], task: str = "classification") -> None:
        self.url = url
        self.classes = list(classes)
        self.task = task  # what counts as done: a class label, or in a segmentation project a mask
        self.engine = make_engine(url)
        try:
            self.revision = migrate(self.engine)
        except OperationalError as exc:
            raise LesionlabError(f"cannot open the project database {self._safe_url()}: {exc.orig}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ images
    def add_images(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert images not yet known (by id); returns how many were new."""
        new = 0
        with self.session() as s:
            known = set(s.scalars(select(ImageRow.image_id)))
            for row in rows:
                if row["image_id"] in known:
                    continue
                s.add(ImageRow(**row))
                known.add(row["image_id"])
                new += 1
        return new

    def images(self, status: str | None = None) -> list[ImageRow]:
        with self.session() as s:
            query = select(ImageRow).order_by(ImageRow.key)
            if status is not None:
                query = query.where(ImageRow.status == status)
            return list(s.scalars(query))

    def image(self, image_id: str) -> ImageRow | None:
        with self.session() as s:
            return s.scalar(select(ImageRow).where(ImageRow.image_id == image_id))

    def set_image_status(self, image_id: str, status: str, problem: str | None) -> None:
        with self.session() as s:
            s.execute(
                update(ImageRow).where(ImageRow.image_id == image_id).values(status=status, problem=problem)
            )

    def _image_key(self, s: Session, image_id: str) -> int:
        key = s.scalar(select(ImageRow.key).where(ImageRow.image_id == image_id))
        if key is None:
            raise DataError(f"cannot label {image_id!r}: it is not an image of this project")
        return key

    # ------------------------------------------------------------------ the LabelStore protocol
    def image_ids(self) -> list[str]:
        """Ids of the usable images (corrupt or missing ones are left out)."""
        return [r.image_id for r in self.images(status="ok")]

    def labeled_ids(self) -> list[str]:
        labels = self.labels()
        return [i for i in self.image_ids() if i in labels]

    def unlabeled_ids(self) -> list[str]:
        labels = self.labels()
        return [i for i in self.image_ids() if i not in labels]

    def get_label(self, image_id: str) -> int | None:
        with self.session() as s:
            return s.scalar(
                select(Annotation.label)
                .join(ImageRow, ImageRow.key == Annotation.image_key)
                .where(ImageRow.image_id == image_id, *self._standing())
                .order_by(Annotation.id.desc())
                .limit(1)
            )

    def save_label(self, image_id: str, label: int, annotator: str = "") -> None:
        self.add_annotation(image_id, label, annotator)

    # ------------------------------------------------------------------ annotations
    @staticmethod
    def _standing() -> tuple[Any, ...]:
        return (
            Annotation.retracted_at.is_(None),
            Annotation.label.is_not(None),
            Annotation.source.in_(LABEL_SOURCES),
        )

    def check_label(self, label: int) -> int:
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(self.classes):
            raise DataError(
                f"label {label!r} is not a class of this project; use 0..{len(self.classes) - 1} "
                f"({', '.join(self.classes)})"
            )
        return label

    def add_annotation(
        self,
        image_id: str,
        label: int | None,
        annotator: str = "",
        source: str = "expert",
        request_id: str | None = None,
        mask_path: str | None = None,
        created_at: datetime | None = None,
    ) -> tuple[int, bool]:
        """Store one annotation; returns (its id, whether it is new).

        With a `request_id` seen before, nothing is written and the earlier annotation's id is returned:
        a client may retry a submission whose reply it lost without storing it twice.
        """
        if label is not None:
            if self.task == "segmentation":
                raise DataError(
                    f"cannot give {image_id!r} a class label: this is a segmentation project, its "
                    "annotations are masks (draw one on the page, or import a folder of "
                    "<image_id>_segmentation.png masks)"
                )
            self.check_label(label)
        if request_id is not None:
            earlier = self._by_request(request_id)
            if earlier is not None:
                return earlier, False
        try:
            with self.session() as s:
                row = Annotation(
                    image_key=self._image_key(s, image_id),
                    label=label,
                    mask_path=mask_path,
                    annotator=annotator,
                    source=source,
                    request_id=request_id,
                    created_at=created_at or utcnow(),
                )
                s.add(row)
                s.flush()
                return row.id, True
        except IntegrityError:  # another writer stored the same request between our check and insert
            earlier = self._by_request(request_id) if request_id else None
            if earlier is None:
                raise
            return earlier, False

    def _by_request(self, request_id: str) -> int | None:
        with self.session() as s:
            return s.scalar(select(Annotation.id).where(Annotation.request_id == request_id))

    def annotation(self, annotation_id: int) -> Annotation | None:
        with self.session() as s:
            return s.get(Annotation, annotation_id)

    def retract(self, annotation_id: int, annotator: str) -> bool:
        """Undo `annotator`'s own expert annotation (kept, marked retracted); False if it does not exist or
        was undone already. Anything else (an import, a model's mask, another expert's label) is refused
        with `NotYours`: undo takes back one's own slip, it does not overrule someone else."""
        with self.session() as s:
            row = s.get(Annotation, annotation_id, with_for_update=True)
            if row is None or row.retracted_at is not None:
                return False
            if row.source != "expert" or row.annotator != annotator:
                whose = f"{row.annotator!r}'s" if row.source == "expert" else f"a {row.source} annotation"
                raise NotYours(
                    f"annotation {annotation_id} is {whose}; an annotator can undo only their own labels "
                    "and masks (label the image again to change it)"
                )
            row.retracted_at, row.retracted_by = utcnow(), annotator
            return True

    def skip(self, image_id: str, annotator: str = "") -> None:
        with self.session() as s:
            s.add(Skip(image_key=self._image_key(s, image_id), annotator=annotator))

    def label_entries(self) -> dict[str, LabelEntry]:
        """Each labelled usable image's standing label (the newest expert or imported one not undone)."""
        with self.session() as s:
            rows = s.execute(
                select(Annotation, ImageRow.image_id)
                .join(ImageRow, ImageRow.key == Annotation.image_key)
                .where(ImageRow.status == "ok", *self._standing())
                .order_by(Annotation.id)
            ).all()
        return {
            image_id: LabelEntry(image_id, a.label, a.annotator, a.source, a.created_at, a.id, a.mask_path)
            for a, image_id in rows
        }

    def mask_path(self, image_id: str, sources: Sequence[str] = LABEL_SOURCES) -> str | None:
        """The newest standing mask's file (relative to the project folder) from `sources`, or None.

        By default an expert's or an imported mask; `("model",)` asks for the model's proposed mask."""
        with self.session() as s:
            return s.scalar(
                select(Annotation.mask_path)
                .join(ImageRow, ImageRow.key == Annotation.image_key)
                .where(
                    ImageRow.image_id == image_id,
                    Annotation.mask_path.is_not(None),
                    Annotation.retracted_at.is_(None),
                    Annotation.source.in_(sources),
                )
                .order_by(Annotation.id.desc())
                .limit(1)
            )

    def mask_paths(self) -> dict[str, str]:
        """Each usable image's newest standing expert or imported mask file (relative to the project)."""
        with self.session() as s:
            rows = s.execute(
                select(ImageRow.image_id, Annotation.mask_path)
                .join(Annotation, ImageRow.key == Annotation.image_key)
                .where(
                    ImageRow.status == "ok",
                    Annotation.mask_path.is_not(None),
                    Annotation.retracted_at.is_(None),
                    Annotation.source.in_(LABEL_SOURCES),
                )
                .order_by(Annotation.id)
            ).all()
        return dict(rows)

    def masked_ids(self) -> set[str]:
        """Usable images with a standing mask."""
        return set(self.mask_paths())

    def annotated_ids(self) -> set[str]:
        """Images that are done, as far as the queue and `propose` are concerned: in a segmentation
        project those with a standing mask, otherwise those with a standing class label."""
        return self.masked_ids() if self.task == "segmentation" else set(self.labels())

    def labels(self) -> dict[str, int]:
        return {i: e.label for i, e in self.label_entries().items()}

    def count_annotations(self) -> dict[str, int]:
        """Annotations by source, undone ones included (the full history)."""
        with self.session() as s:
            rows = s.execute(select(Annotation.source, func.count()).group_by(Annotation.source)).all()
        return {source: n for source, n in rows}

    def annotators(self) -> dict[str, int]:
        """Standing expert labels per annotator."""
        counts: dict[str, int] = {}
        for entry in self.label_entries().values():
            if entry.source == "expert":
                counts[entry.annotator] = counts.get(entry.annotator, 0) + 1
        return counts

    # ------------------------------------------------------------------ proposals and queue
    def add_round(
        self,
        strategy: str,
        model_version_id: int | None,
        budget: int,
        n_labels: int,
        proposals: Sequence[tuple[str, float | None, list[float] | None]],
    ) -> int:
        """Record a proposal round: (image id, score, prediction) in rank order. Returns the round id."""
        with self.session() as s:
            rnd = ProposalRound(
                strategy=strategy, model_version_id=model_version_id, budget=budget, n_labels=n_labels
            )
            s.add(rnd)
            s.flush()
            for rank, (image_id, score, prediction) in enumerate(proposals):
                s.add(
                    Proposal(
                        round_id=rnd.id,
                        image_key=self._image_key(s, image_id),
                        rank=rank,
                        score=None if score is None else float(score),
                        prediction=prediction,
                    )
                )
            return rnd.id

    def rounds(self) -> list[ProposalRound]:
        with self.session() as s:
            return list(s.scalars(select(ProposalRound).order_by(ProposalRound.id)))

    def proposals(self, round_id: int | None = None) -> list[tuple[Proposal, str]]:
        """(proposal, image id) of one round or of all, in round then rank order."""
        with self.session() as s:
            query = (
                select(Proposal, ImageRow.image_id)
                .join(ImageRow, ImageRow.key == Proposal.image_key)
                .order_by(Proposal.round_id, Proposal.rank)
            )
            if round_id is not None:
                query = query.where(Proposal.round_id == round_id)
            return [(p, i) for p, i in s.execute(query).all()]

    def queue(self, annotator: str | None = None) -> list[tuple[Proposal, str]]:
        """Proposed usable images nobody has labelled and `annotator` has not skipped (None: the whole
        queue, skips ignored), oldest round first; an image is done as `annotated_ids` says (the task's)."""
        labelled = self.annotated_ids()
        with self.session() as s:
            skipped = (
                set(s.scalars(select(Skip.image_key).where(Skip.annotator == annotator)))
                if annotator is not None
                else set()
            )
            ok = set(s.scalars(select(ImageRow.key).where(ImageRow.status == "ok")))
        seen: set[int] = set()
        out = []
        for proposal, image_id in self.proposals():
            key = proposal.image_key
            if key in seen or key in skipped or key not in ok or image_id in labelled:
                continue
            seen.add(key)
            out.append((proposal, image_id))
        return out

    def latest_prediction(self, image_id: str) -> list[float] | None:
        """The model's prediction stored with the newest proposal of `image_id` (None at cold start)."""
        with self.session() as s:
            return s.scalar(
                select(Proposal.prediction)
                .join(ImageRow, ImageRow.key == Proposal.image_key)
                .where(ImageRow.image_id == image_id)
                .order_by(Proposal.round_id.desc())
                .limit(1)
            )

    # ------------------------------------------------------------------ models
    def add_model_version(self, checkpoint: str, n_labels: int, method: str, metrics: dict[str, Any]) -> int:
        with self.session() as s:
            row = ModelVersion(checkpoint=checkpoint, n_labels=n_labels, method=method, metrics=metrics)
            s.add(row)
            s.flush()
            return row.id

    def model_versions(self) -> list[ModelVersion]:
        with self.session() as s:
            return list(s.scalars(select(ModelVersion).order_by(ModelVersion.id)))

    def next_model_version(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.coalesce(func.max(ModelVersion.id), 0)))) + 1

    # ------------------------------------------------------------------ audit flags
    def add_flags(self, flags: Iterable[tuple[str, float, str, int | None]]) -> int:
        """Flag suspicious labels: (image id, score, reason, suggested label). Returns how many were added."""
        entries = self.label_entries()
        n = 0
        with self.session() as s:
            for image_id, score, reason, suggested in flags:
                entry = entries.get(image_id)
                s.add(
                    AuditFlag(
                        image_key=self._image_key(s, image_id),
                        annotation_id=entry.annotation_id if entry else None,
                        score=float(score),
                        reason=reason,
                        suggested_label=suggested,
                    )
                )
                n += 1
        return n

    def flags(self, pending_only: bool = False) -> list[tuple[AuditFlag, str]]:
        with self.session() as s:
            query = (
                select(AuditFlag, ImageRow.image_id)
                .join(ImageRow, ImageRow.key == AuditFlag.image_key)
                .order_by(AuditFlag.score.desc(), AuditFlag.id)
            )
            if pending_only:
                query = query.where(AuditFlag.outcome.is_(None))
            return [(f, i) for f, i in s.execute(query).all()]

    def review_flag(self, flag_id: int, outcome: str, reviewer: str, label: int | None = None) -> AuditFlag:
        """Keep the flagged label, or change it (a new expert annotation); the decision is recorded."""
        if outcome not in ("keep", "change"):
            raise DataError(f"review outcome must be keep or change, got {outcome!r}")
        if outcome == "change" and label is None:
            raise DataError("changing a flagged label needs the new label")
        if outcome == "change":
            self.check_label(int(label))
        # One transaction: the new label and the decision are stored together or not at all. The row lock
        # (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) makes a second reviewer wait
        # and then see the first one's outcome.
        with self.session() as s:
            flag = s.get(AuditFlag, flag_id, with_for_update=True)
            if flag is None:
                raise DataError(f"there is no audit flag {flag_id}")
            if flag.outcome is not None:
                raise AlreadyReviewed(
                    f"audit flag {flag_id} was already reviewed ({flag.outcome}) by {flag.reviewed_by!r}; "
                    "reload the review tab"
                )
            if outcome == "change":
                row = Annotation(
                    image_key=flag.image_key, label=int(label), annotator=reviewer, source="expert"
                )
                s.add(row)
                s.flush()
                flag.new_annotation_id = row.id
            flag.outcome, flag.reviewed_by, flag.reviewed_at = outcome, reviewer, utcnow()
            return flag

    # ------------------------------------------------------------------ health
    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check` ("ok" when sound); PostgreSQL keeps its own guarantees."""
        if not self.is_sqlite:
            return "ok"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").fetchall()
            conn.rollback()
        return "; ".join(str(r[0]) for r in rows)
