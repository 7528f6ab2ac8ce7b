"""Audit flags: labels the audit finds suspicious, and what a reviewer decided (keep or change).

A change is stored as the reviewer's "adjudication" annotation, which then is the image's consensus label
(it wins over the annotators' answers without replacing them in the history).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from lesionlab.errors import DataError
from lesionlab.project.exceptions import Conflict, NotFound
from lesionlab.project.models import Annotation, AuditFlag, ImageRow, utcnow


class AlreadyReviewed(Conflict):
    """An audit flag that already has an outcome (another reviewer, or a retried request, was first)."""


class FlagsMixin:
    """Audit flags of `ProjectStore` (needs `session`, `label_entries`, `check_label`, `_image_key`)."""

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

    def review_flag(
        self, flag_id: int, outcome: str, reviewer: str, label: int | None = None, shown: Any = ()
    ) -> AuditFlag:
        """Keep the flagged label, or change it (the reviewer's adjudication); the decision is recorded.
        `shown` (a 1-tuple: the label index the reviewer was shown, None for none) is checked under the
        image row's lock in this transaction: Conflict if the image's label is another by then."""
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
                raise NotFound(f"there is no audit flag {flag_id}")
            if flag.outcome is not None:
                raise AlreadyReviewed(
                    f"audit flag {flag_id} was already reviewed ({flag.outcome}) by {flag.reviewed_by!r}; "
                    "reload the review tab"
                )
            if shown:
                s.execute(select(ImageRow.key).where(ImageRow.key == flag.image_key).with_for_update())
                if self._label_now(s, flag.image_key) != shown[0]:
                    raise Conflict(
                        f"the label of the image of audit flag {flag_id} changed since it was shown; reload "
                        "the Review tab and decide again"
                    )
            if outcome == "change":
                row = Annotation(
                    image_key=flag.image_key, label=int(label), annotator=reviewer, source="adjudication"
                )
                s.add(row)
                s.flush()
                flag.new_annotation_id = row.id
            flag.outcome, flag.reviewed_by, flag.reviewed_at = outcome, reviewer, utcnow()
            return flag
