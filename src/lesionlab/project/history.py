"""One image's history (who labelled what, when: answers, undos, replacements, skips, reviewers' decisions
and audit-flag reviews) and a cheap stamp of everything that changes a person's queue or the progress.

The history is read from the append-only annotation rows (a retracted row is an undo, or a replacement
when the same person's newer answer of the same kind was stored at that moment), the skips and the audit
flags' outcomes; nothing is recorded twice for it. The stamp lets a page that polls for others' work skip
the full progress computation when nothing changed since its last poll.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from lesionlab.project.leases import aware
from lesionlab.project.models import Annotation, AuditFlag, ImageRow, Lease, ProposalRound, Skip, utcnow


def _kind(row: Any) -> str:
    return "mask" if row.mask_path is not None else "label"


def _answer(row: Any, classes: list[str]) -> dict[str, Any]:
    """What an annotation said: its class, or that it is a mask."""
    if row.label is not None:
        name = classes[row.label] if 0 <= row.label < len(classes) else str(row.label)
        return {"kind": "label", "label": name}
    return {"kind": "mask", "label": None}


def _event(at: datetime, who: str, action: str, **extra: Any) -> dict[str, Any]:
    return {"at": aware(at).astimezone(timezone.utc), "who": who, "action": action, **extra}


def annotation_events(rows: list[Any], classes: list[str]) -> list[dict[str, Any]]:
    """An event per annotation (its source as the action: expert, import, model, adjudication), and one
    per retraction: "replaced" when the same person stored a newer answer of that kind at that moment,
    else "undo"."""
    stored = {(r.annotator, r.source, _kind(r), aware(r.created_at)) for r in rows}
    events = []
    for r in rows:
        events.append(
            _event(
                r.created_at,
                r.annotator,
                r.source,
                annotation_id=r.id,
                unsure=bool(r.unsure),
                comment=r.comment,
                accepted=getattr(r, "accepted", None),
                **_answer(r, classes),
            )
        )
        if r.retracted_at is not None:
            replaced = (r.annotator, r.source, _kind(r), aware(r.retracted_at)) in stored
            events.append(
                _event(
                    r.retracted_at,
                    r.retracted_by or r.annotator,
                    "replaced" if replaced else "undo",
                    annotation_id=r.id,
                    **_answer(r, classes),
                )
            )
    return events


class HistoryMixin:
    """History and change stamp of `ProjectStore` (needs `session`, `classes`, `_image_key`)."""

    def history(self, image_id: str) -> list[dict[str, Any]]:
        """Every recorded event of the image, oldest first (ties in the order they were stored)."""
        with self.session() as s:
            key = self._image_key(s, image_id)
            rows = list(s.scalars(select(Annotation).where(Annotation.image_key == key)))
            skips = list(s.scalars(select(Skip).where(Skip.image_key == key)))
            flags = list(
                s.scalars(select(AuditFlag).where(AuditFlag.image_key == key, AuditFlag.outcome.is_not(None)))
            )
        events = annotation_events(rows, self.classes)
        events += [_event(k.created_at, k.annotator, "skip") for k in skips]
        for f in flags:
            if f.reviewed_at is not None:
                who = f.reviewed_by or ""
                events.append(_event(f.reviewed_at, who, "flag review", outcome=f.outcome, reason=f.reason))
        # stable: an answer stays before its own retraction; a replacement follows the answer replacing it
        events.sort(key=lambda e: (e["at"], e["action"] == "replaced"))
        return [{**e, "at": e["at"].isoformat()} for e in events]

    def change_stamp(self) -> str:
        """A short string that changes whenever an annotation, undo, skip, lease or proposal round is
        stored or forgotten, or a lease runs out (all that moves anyone's queue or the progress counts)."""
        with self.session() as s:
            ann = s.execute(select(func.max(Annotation.id), func.count(Annotation.retracted_at))).one()
            skip = s.execute(select(func.max(Skip.id), func.count(Skip.id))).one()
            live = func.count(Lease.id).filter(Lease.expires_at > utcnow())
            lease = s.execute(select(func.max(Lease.id), live)).one()
            rounds = s.scalar(select(func.max(ProposalRound.id)))
            images = s.execute(select(func.count(ImageRow.key)).where(ImageRow.status == "ok")).scalar_one()
        parts = (*ann, *skip, *lease, rounds, images)
        return ".".join("0" if p is None else str(p) for p in parts)
