"""The project store: images, the append-only annotation history, people's leases, proposal rounds, model
versions and audit flags, over the database of `project.database` (SQLite or PostgreSQL).

`ProjectStore` implements the `LabelStore` protocol of `lesionlab.runner.oracles`, so a `StoreOracle` over it
answers a runner's queries with the experts' consensus labels; the rest of its methods are what the
commands and the server need. Every write is one transaction. Reads of who stands on which image and what
their consensus is live in `standing.py`, the queue and leases in `leases.py`, audit flags in `flags.py`,
an image's history and the change stamp in `history.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lesionlab.errors import DataError, LesionlabError
from lesionlab.project.database import make_engine, migrate
from lesionlab.project.exceptions import Conflict, Forbidden, NotFound
from lesionlab.project.flags import AlreadyReviewed, FlagsMixin
from lesionlab.project.history import HistoryMixin
from lesionlab.project.leases import QueueMixin, aware
from lesionlab.project.models import Annotation, ImageRow, Lease, ModelVersion, Skip, utcnow
from lesionlab.project.standing import LABEL_SOURCES, RATER_SOURCES, LabelEntry, StandingMixin, kind_of

__all__ = ["LABEL_SOURCES", "AlreadyReviewed", "LabelEntry", "NotYours", "ProjectStore"]


class NotYours(Forbidden):
    """An undo of an annotation the asking person did not give."""


class ProjectStore(StandingMixin, QueueMixin, FlagsMixin, HistoryMixin):
    """The project's database behind the `LabelStore` protocol and the project's own queries."""

    def __init__(
        self, url: str, classes: Sequence[str], task: str = "classification", overlap: int = 1
    ) -> None:
        self.url = url
        self.classes = list(classes)
        self.task = task  # the task's name; what counts as done is its target (`kind`)
        self.overlap = int(overlap)  # how many different people annotate each image
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

    @property
    def kind(self) -> str:
        """What an annotation of this project's task is: a "label" or a "mask" (the task's `target`). The one
        place the store and the services read it (consensus, queue, progress and adjudication follow it)."""
        from lesionlab.tasks import get_task

        return get_task(self.task).target

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

    def images_by_key(self, keys: Sequence[int]) -> list[ImageRow]:
        with self.session() as s:
            return list(s.scalars(select(ImageRow).where(ImageRow.key.in_(list(keys)))))

    def image(self, image_id: str) -> ImageRow | None:
        with self.session() as s:
            return s.scalar(select(ImageRow).where(ImageRow.image_id == image_id))

    def set_image_status(self, image_id: str, status: str, problem: str | None, **file: Any) -> None:
        """The image's status and problem, and `file` fields (sha256, size_bytes, width, height) of a file
        replaced since it was scanned."""
        with self.session() as s:
            values = {"status": status, "problem": problem, **file}
            s.execute(update(ImageRow).where(ImageRow.image_id == image_id).values(**values))

    def _image_key(self, s: Session, image_id: str) -> int:
        key = s.scalar(select(ImageRow.key).where(ImageRow.image_id == image_id))
        if key is None:
            raise NotFound(f"cannot label {image_id!r}: it is not an image of this project")
        return key

    # ------------------------------------------------------------------ the LabelStore protocol
    def image_ids(self) -> list[str]:
        """Ids of the usable images (corrupt or missing ones are left out)."""
        with self.session() as s:
            query = select(ImageRow.image_id).where(ImageRow.status == "ok").order_by(ImageRow.key)
            return list(s.scalars(query))

    def labeled_ids(self) -> list[str]:
        labels = self.labels()
        return [i for i in self.image_ids() if i in labels]

    def unlabeled_ids(self) -> list[str]:
        labels = self.labels()
        return [i for i in self.image_ids() if i not in labels]

    def get_label(self, image_id: str) -> int | None:
        """The image's consensus label (None while incomplete or unresolved)."""
        return self.labels(image_id).get(image_id)

    def save_label(self, image_id: str, label: int, annotator: str = "") -> None:
        self.add_annotation(image_id, label, annotator)

    # ------------------------------------------------------------------ annotations
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
        overlap: int | None = None,
        unsure: bool = False,
        comment: str | None = None,
        seen: Sequence[int] | None = None,
        accepted: str | None = None,
    ) -> tuple[int, bool]:
        """Store one annotation; returns (its id, whether it is new). With `seen` (a decision's), Conflict
        unless what stands on the image is those annotations, checked in the storing transaction.

        With a `request_id` seen before, nothing is written and the earlier annotation's id is returned:
        a client may retry a submission whose reply it lost without storing it twice. The annotator's own
        earlier standing annotation of the same kind on the image is superseded (retracted), so each
        person stands on an image with one label and one mask at most. With `overlap`, the save is refused
        (`Conflict`) when that many other people already stand on the image: the check and the insert are
        one transaction holding the image row's lock (SQLite's BEGIN IMMEDIATE serialises writers), so two
        people can never both take an image's last slot. `unsure` and `comment` are the annotator's doubt
        and remark, kept with this annotation (a blank comment is stored as none); `accepted` names the
        model whose proposal a mask is unchanged ("model vN").
        """
        if label is not None:
            if self.kind == "mask" and source != "adjudication":
                raise DataError(
                    f"cannot give {image_id!r} a class label: this is a segmentation project, its "
                    "annotations are masks (draw one on the page, or import a folder of "
                    "<image_id>_segmentation.png masks)"
                )
            self.check_label(label)
        kind = "mask" if mask_path is not None else "label"
        if request_id is not None:
            earlier = self.by_request(request_id, annotator, image_id, label, kind)
            if earlier is not None:
                return earlier, False
        try:
            with self.session() as s:
                if seen is not None and self._standing_ids(s, image_id, kind) != sorted(seen):
                    raise Conflict(f"the annotations of {image_id!r} changed since; reload and decide again")
                row_id = self._insert(
                    s, image_id, label, annotator, source, request_id, mask_path, created_at, overlap
                )
                if unsure or (comment and comment.strip()) or accepted:
                    row = s.get(Annotation, row_id)
                    row.unsure, row.comment = bool(unsure), (comment or "").strip() or None
                    row.accepted = accepted
                return row_id, True
        except IntegrityError:  # another writer stored the same request between our check and insert
            earlier = self.by_request(request_id, annotator, image_id, label, kind) if request_id else None
            if earlier is None:
                raise
            return earlier, False

    def add_many(
        self, items: Sequence[tuple[str, int | None, str | None]], annotator: str, source: str, overlap: int
    ) -> list[str]:
        """Store (image id, label, mask path) items in one transaction, for an import (all or none);
        returns the images left out because others hold their `overlap` slots (their check writes nothing)."""
        full = []
        with self.session() as s:
            for image_id, label, mask_path in items:
                try:
                    self._insert(s, image_id, label, annotator, source, None, mask_path, None, overlap)
                except Conflict:
                    full.append(image_id)
        return full

    def _insert(
        self,
        s: Session,
        image_id: str,
        label: int | None,
        annotator: str,
        source: str,
        request_id: str | None,
        mask_path: str | None,
        created_at: datetime | None,
        overlap: int | None,
    ) -> int:
        image = s.scalar(select(ImageRow).where(ImageRow.image_id == image_id).with_for_update())
        if image is None:
            raise NotFound(f"cannot label {image_id!r}: it is not an image of this project")
        kind = "mask" if mask_path is not None else "label"
        if overlap is not None and source in RATER_SOURCES:
            others = self._raters(s, image.key, kind) - {annotator}
            if len(others) >= overlap:
                raise Conflict(
                    f"{image_id!r} has its {overlap} annotation(s) already (by {', '.join(sorted(others))}); "
                    "take the next image"
                )
        now = utcnow()
        s.execute(
            update(Annotation)
            .where(
                Annotation.image_key == image.key,
                Annotation.annotator == annotator,
                Annotation.source == source,
                Annotation.retracted_at.is_(None),
                kind_of(kind),
            )
            .values(retracted_at=now, retracted_by=annotator)
        )
        lease = s.scalar(select(Lease).where(Lease.image_key == image.key, Lease.person == annotator))
        seconds = None
        if lease is not None:
            seconds = max(0.0, (now - aware(lease.started_at)).total_seconds())
            s.execute(delete(Lease).where(Lease.id == lease.id))
        row = Annotation(
            image_key=image.key,
            label=label,
            mask_path=mask_path,
            annotator=annotator,
            source=source,
            request_id=request_id,
            created_at=created_at or now,
            seconds=seconds,
        )
        s.add(row)
        s.flush()
        return row.id

    def _raters(self, s: Session, image_key: int, kind: str) -> set[str]:
        """Who stands on the image now (distinct people, expert or imported, of that kind)."""
        return set(
            s.scalars(
                select(Annotation.annotator).where(
                    Annotation.image_key == image_key,
                    Annotation.retracted_at.is_(None),
                    Annotation.source.in_(RATER_SOURCES),
                    kind_of(kind),
                )
            )
        )

    def by_request(
        self,
        request_id: str,
        annotator: str,
        image_id: str | None = None,
        label: int | None = None,
        kind: str | None = None,
    ) -> int | None:
        """The annotation a request id already stored (None if new); Conflict if someone else sent it, or
        if it stored another action (another image, another class, a label for a mask): answering "stored"
        then would acknowledge an annotation that was never made."""
        with self.session() as s:
            row = s.execute(
                select(Annotation.id, Annotation.annotator, Annotation.label, Annotation.mask_path)
                .add_columns(ImageRow.image_id)
                .join(ImageRow, ImageRow.key == Annotation.image_key)
                .where(Annotation.request_id == request_id)
            ).first()
        if row is None:
            return None
        if row.annotator != annotator:
            raise Conflict(f"request id {request_id!r} was used by someone else; send a new one")
        stored_kind = "mask" if row.mask_path is not None else "label"
        other = (
            (image_id is not None and row.image_id != image_id)
            or (kind is not None and kind != stored_kind)
            or (kind == "label" and label is not None and row.label != label)
        )
        if other:
            raise Conflict(
                f"request id {request_id!r} stored another annotation (of {row.image_id!r}); "
                "a new action needs a new request id"
            )
        return row.id

    def annotation(self, annotation_id: int) -> Annotation | None:
        with self.session() as s:
            return s.get(Annotation, annotation_id)

    def retract(self, annotation_id: int, annotator: str) -> bool:
        """Undo `annotator`'s own annotation (kept, marked retracted); False if it was undone or superseded
        already. Anything else (an import, a model's mask, another person's annotation) is refused with
        `NotYours`: undo takes back one's own slip, it does not overrule someone else. Raises NotFound for
        an id that does not exist."""
        with self.session() as s:
            row = s.get(Annotation, annotation_id, with_for_update=True)
            if row is None:
                raise NotFound(f"there is no annotation {annotation_id}")
            if row.source not in ("expert", "adjudication") or row.annotator != annotator:
                whose = f"{row.annotator!r}'s" if row.source == "expert" else f"a {row.source} annotation"
                raise NotYours(
                    f"annotation {annotation_id} is {whose}; an annotator can undo only their own labels "
                    "and masks (label the image again to change it)"
                )
            if row.retracted_at is not None:
                return False
            row.retracted_at, row.retracted_by = utcnow(), annotator
            # undo brings the image back to its annotator, even one they skipped since (another tab)
            s.execute(delete(Skip).where(Skip.image_key == row.image_key, Skip.annotator == annotator))
            return True

    def skip(self, image_id: str, annotator: str = "") -> None:
        """The image leaves `annotator`'s queue (and their lease on it ends)."""
        with self.session() as s:
            key = self._image_key(s, image_id)
            s.add(Skip(image_key=key, annotator=annotator))
            s.execute(delete(Lease).where(Lease.image_key == key, Lease.person == annotator))

    def count_annotations(self) -> dict[str, int]:
        """Annotations by source, undone ones included (the full history)."""
        with self.session() as s:
            rows = s.execute(select(Annotation.source, func.count()).group_by(Annotation.source)).all()
        return {source: n for source, n in rows}

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

    # ------------------------------------------------------------------ health
    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check` ("ok" when sound); PostgreSQL keeps its own guarantees."""
        if not self.is_sqlite:
            return "ok"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").fetchall()
            conn.rollback()
        return "; ".join(str(r[0]) for r in rows)
