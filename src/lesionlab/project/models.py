"""The annotation project's tables (SQLAlchemy 2), one schema for SQLite and PostgreSQL.

Images are referenced by their path under the project's images folder, never copied. Annotations are an
append-only history: a new label is a new row, undo or a person's own newer answer marks a row retracted,
so who said what and when is never lost. Each person has at most one standing (not retracted) label and
one standing mask per image; an image's label is the consensus of its people's standing answers (or a
reviewer's adjudication, which wins). `request_id` (unique) makes a submission idempotent: a client that
retries after a lost reply cannot store a label twice. An annotation carries its annotator's "unsure"
flag and free-text comment. People hold personal tokens (only their SHA-256 is stored); leases say who
has an image open, in the database so they hold across restarts and server processes. The schema is
created and changed only by the Alembic migrations in `migrations/` (a test keeps both equal).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# who gave an annotation: "model" rows are pre-labels, not labels; "adjudication" is a reviewer's decision
# on an image its annotators disagree on, and is then the image's consensus
SOURCES = ("expert", "import", "model", "adjudication")
ROLES = ("annotator", "reviewer", "admin")  # each role may do what the ones before it may
IMAGE_STATUSES = ("ok", "corrupt", "missing")
REVIEW_OUTCOMES = ("keep", "change")

# Named constraints, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ImageRow(Base):
    """One image file of the project's folder: where it is, what its bytes were, whether it decodes."""

    __tablename__ = "images"
    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[str] = mapped_column(String(512), unique=True)
    path: Mapped[str] = mapped_column(String(1024))  # relative to the images folder, '/'-separated
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    problem: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Annotation(Base):
    """A class label or a mask file for one image, by one annotator, at one time, from one source."""

    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_key: Mapped[int] = mapped_column(ForeignKey("images.key"), index=True)
    label: Mapped[int | None] = mapped_column(Integer)
    mask_path: Mapped[str | None] = mapped_column(String(1024))  # relative to the project folder
    annotator: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(16), default="expert")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    retracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retracted_by: Mapped[str | None] = mapped_column(String(128))
    seconds: Mapped[float | None] = mapped_column(Float)  # from the person's lease start to the save
    # the annotator's own doubt and remark on this answer (kept with it: a new answer carries its own)
    unsure: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    comment: Mapped[str | None] = mapped_column(Text)
    # "model vN" when the mask saved is that model's proposal, pixel for pixel: accepted, not drawn
    accepted: Mapped[str | None] = mapped_column(String(32))


class Person(Base):
    """Someone invited to the project: their name (what annotations record), role and token's SHA-256."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Lease(Base):
    """A person has an image open to annotate it: the slot is theirs until `expires_at`."""

    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("image_key", "person"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_key: Mapped[int] = mapped_column(ForeignKey("images.key"), index=True)
    person: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Skip(Base):
    """An annotator passed over an image (it leaves their queue, not anyone else's)."""

    __tablename__ = "skips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_key: Mapped[int] = mapped_column(ForeignKey("images.key"), index=True)
    annotator: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """A model trained on the expert labels of its time: checkpoint, labels used, estimated quality."""

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    checkpoint: Mapped[str] = mapped_column(String(1024))  # relative to the project folder
    n_labels: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(64))  # how quality was estimated, e.g. "5-fold cv"
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProposalRound(Base):
    """One `propose` call: which strategy, which model (None: cold start), how many images."""

    __tablename__ = "proposal_rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    strategy: Mapped[str] = mapped_column(String(64))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    budget: Mapped[int] = mapped_column(Integer)
    n_labels: Mapped[int] = mapped_column(Integer)  # expert labels when the round was proposed


class Proposal(Base):
    """One proposed image of a round, its rank, the strategy's score and the model's prediction then."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("round_id", "image_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("proposal_rounds.id"), index=True)
    image_key: Mapped[int] = mapped_column(ForeignKey("images.key"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    prediction: Mapped[list[float] | None] = mapped_column(JSON)  # class probabilities, None at cold start


class AuditFlag(Base):
    """A label the audit finds suspicious, and what a reviewer decided (keep it or change it)."""

    __tablename__ = "audit_flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_key: Mapped[int] = mapped_column(ForeignKey("images.key"), index=True)
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"))
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    suggested_label: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    new_annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"))
