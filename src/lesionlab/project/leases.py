"""Proposal rounds, each person's queue, and leases: which images a person may annotate now.

An image has `overlap` slots. A slot is taken by a person standing on the image (their annotation) or by
a live lease (someone has it open). A person's queue holds the proposed usable images they have neither
annotated nor skipped and that still have a slot free for them. Handing out the first item leases it to
the person in the same transaction, holding the image row's lock (PostgreSQL; SQLite's BEGIN IMMEDIATE
serialises the whole transaction), so two people never get the same last slot, whichever of several
server processes on one database they reach. Leases live in the database: they survive a restart. A
person holds one lease at a time; it ends when they save, skip, or take another image, or after
`LEASE_SECONDS` without their page renewing it (`hold`: the page renews it while they draw or type), and
the time from its start to the save is recorded with the annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lesionlab.project.models import (
    Annotation,
    ImageRow,
    Lease,
    Proposal,
    ProposalRound,
    Skip,
    utcnow,
)

LEASE_SECONDS = 600.0  # an image left open this long is offered to others again


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class QueueMixin:
    """Rounds, queue and leases of `ProjectStore` (needs `session`, `overlap`, `kind`, `_image_key`)."""

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
            return self._proposals(s, round_id)

    @staticmethod
    def _proposals(s: Session, round_id: int | None = None) -> list[tuple[Proposal, str]]:
        """(proposal, image id) in round then rank order; the proposals are plain rows with the table's
        columns as attributes (the queue reads them on every request: ORM objects cost 5x more)."""
        query = (
            select(*Proposal.__table__.columns, ImageRow.image_id.label("image_id_"))
            .join(ImageRow, ImageRow.key == Proposal.image_key)
            .order_by(Proposal.round_id, Proposal.rank)
        )
        if round_id is not None:
            query = query.where(Proposal.round_id == round_id)
        return [(row, row.image_id_) for row in s.execute(query).all()]

    def proposed_ids(self) -> set[str]:
        """Every image ever proposed (by id)."""
        with self.session() as s:
            return set(
                s.scalars(
                    select(ImageRow.image_id).join(Proposal, Proposal.image_key == ImageRow.key).distinct()
                )
            )

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

    # ------------------------------------------------------------------ the queue
    def queue(self, annotator: str | None = None) -> list[tuple[Proposal, str]]:
        """Proposed usable images still short of `overlap` people, oldest round first; for `annotator`,
        only those they may annotate now (not theirs already, not skipped, a slot not leased by others)."""
        with self.session() as s:
            return self._queue(s, annotator, utcnow())

    def _slots(self, s: Session, keys: set[int] | None = None) -> tuple[dict[int, set[str]], set[int]]:
        """Who stands on each image (the task's kind, expert or imported) and which images a reviewer
        decided."""
        from lesionlab.project.standing import RATER_SOURCES, kind_of

        query = select(Annotation.image_key, Annotation.annotator, Annotation.source).where(
            Annotation.retracted_at.is_(None),
            Annotation.source.in_((*RATER_SOURCES, "adjudication")),
            kind_of(self.kind),
        )
        if keys is not None:
            query = query.where(Annotation.image_key.in_(keys))
        raters: dict[int, set[str]] = {}
        decided: set[int] = set()
        for key, who, source in s.execute(query).all():
            if source == "adjudication":
                decided.add(key)
            else:
                raters.setdefault(key, set()).add(who)
        return raters, decided

    def _leased(self, s: Session, now: datetime, keys: set[int] | None = None) -> dict[int, set[str]]:
        query = select(Lease.image_key, Lease.person, Lease.expires_at)
        if keys is not None:
            query = query.where(Lease.image_key.in_(keys))
        out: dict[int, set[str]] = {}
        for key, person, expires in s.execute(query).all():
            if aware(expires) > now:
                out.setdefault(key, set()).add(person)
        return out

    def _free_for(self, annotator: str, have: set[str], leased: set[str]) -> bool:
        held = leased - have - {annotator}
        return annotator not in have and len(have) + len(held) < self.overlap

    def _queue(self, s: Session, annotator: str | None, now: datetime) -> list[tuple[Proposal, str]]:
        return [(p, image_id) for p, image_id, why in self._standing_of(s, annotator, now) if why is None]

    def _standing_of(
        self, s: Session, annotator: str | None, now: datetime
    ) -> list[tuple[Proposal, str, str | None]]:
        """Every proposed image once, oldest round first, with why it is not in `annotator`'s queue (None:
        it is). The queue and the page's "nothing for you now" both read these reasons, so what the page
        says can never disagree with what the queue holds: `unusable`, `decided` (a reviewer's decision),
        `complete` (`overlap` people stand on it), `yours` (the caller's own, others' still to come),
        `skipped` (by the caller), `leased` (the free slots are open in others' pages)."""
        ok = set(s.scalars(select(ImageRow.key).where(ImageRow.status == "ok")))
        raters, decided = self._slots(s)
        skipped: set[int] = set()
        leased: dict[int, set[str]] = {}
        if annotator is not None:
            skipped = set(s.scalars(select(Skip.image_key).where(Skip.annotator == annotator)))
            leased = self._leased(s, now)
        seen: set[int] = set()
        out = []
        for proposal, image_id in self._proposals(s):
            key = proposal.image_key
            if key in seen:
                continue
            seen.add(key)
            have = raters.get(key, set())
            why = None
            if key not in ok:
                why = "unusable"
            elif key in decided:
                why = "decided"
            elif len(have) >= self.overlap:
                why = "complete"
            elif annotator is not None and annotator in have:
                why = "yours"
            elif annotator is not None and key in skipped:
                why = "skipped"
            elif annotator is not None and not self._free_for(annotator, have, leased.get(key, set())):
                why = "leased"
            out.append((proposal, image_id, why))
        return out

    def queue_reasons(self, annotator: str) -> dict[str, int]:
        """How many proposed images are out of `annotator`'s queue, by reason (see `_standing_of`), and
        `queue`: how many are in it; read in one transaction with the same rules as the queue."""
        with self.session() as s:
            counts = {"queue": 0}
            for _p, _i, why in self._standing_of(s, annotator, utcnow()):
                counts[why or "queue"] = counts.get(why or "queue", 0) + 1
            return counts

    def next_lease_end(self, annotator: str) -> datetime | None:
        """When the first live lease of someone else ends (an image may come back to `annotator` then)."""
        with self.session() as s:
            ends = s.scalars(select(Lease.expires_at).where(Lease.person != annotator)).all()
        live = [aware(e) for e in ends if aware(e) > utcnow()]
        return min(live) if live else None

    def hold(self, annotator: str, image_id: str) -> datetime | None:
        """Renew `annotator`'s lease on `image_id` while they work on it (the page asks when they draw or
        type), so a long careful outline is never handed to someone else after `LEASE_SECONDS` and then
        refused at save. A lapsed lease is taken again if the image is still in their queue. Returns the
        new end, or None when it cannot be theirs (others took its slots, it was decided or skipped)."""
        with self.session() as s:
            now = utcnow()
            key = self._image_key(s, image_id)
            s.execute(select(ImageRow.key).where(ImageRow.key == key).with_for_update())
            lease = s.scalar(select(Lease).where(Lease.image_key == key, Lease.person == annotator))
            live = lease is not None and aware(lease.expires_at) > now
            if not live and image_id not in {iid for _, iid in self._queue(s, annotator, now)}:
                return None
            expires = now + timedelta(seconds=LEASE_SECONDS)
            s.execute(delete(Lease).where(Lease.person == annotator, Lease.image_key != key))
            if lease is None:
                s.add(Lease(image_key=key, person=annotator, started_at=now, expires_at=expires))
            else:
                lease.expires_at = expires
            return expires

    def holds(self, annotator: str, image_id: str) -> bool:
        """Whether `annotator` has a live lease on `image_id` (the image is theirs until it ends)."""
        with self.session() as s:
            key = self._image_key(s, image_id)
            ends = s.scalar(select(Lease.expires_at).where(Lease.image_key == key, Lease.person == annotator))
        return ends is not None and aware(ends) > utcnow()

    def unskip(self, annotator: str) -> int:
        """Bring back every image `annotator` skipped (their skips are forgotten); returns how many."""
        with self.session() as s:
            return s.execute(delete(Skip).where(Skip.annotator == annotator)).rowcount or 0

    def take(self, annotator: str, first: str | None = None) -> list[tuple[Proposal, str]]:
        """`annotator`'s queue with its first image leased to them (their other leases end); retried once
        when the same person's other tab leased at the same moment. With `first` (the image the page is
        about to show, e.g. one taken back by undo) in the queue, that one is first and leased: a page
        must never show an image while the lease it holds is on another."""
        for attempt in range(2):
            try:
                with self.session() as s:
                    return self._take(s, annotator, first)
            except IntegrityError:
                if attempt:
                    raise
        return []

    def _take(self, s: Session, annotator: str, first: str | None = None) -> list[tuple[Proposal, str]]:
        now = utcnow()
        items = self._queue(s, annotator, now)
        if first is not None:
            items.sort(key=lambda item: item[1] != first)  # stable: the rest keep their order
        while items:
            key = items[0][0].image_key
            # Lock the image row, then count again: a rival who took the slot meanwhile has committed.
            s.execute(select(ImageRow.key).where(ImageRow.key == key).with_for_update())
            raters, decided = self._slots(s, {key})
            have = raters.get(key, set())
            leased = self._leased(s, now, {key}).get(key, set())
            if key not in decided and self._free_for(annotator, have, leased):
                break
            items.pop(0)
        key = items[0][0].image_key if items else -1
        s.execute(delete(Lease).where(Lease.person == annotator, Lease.image_key != key))
        if not items:
            return []
        lease = s.scalar(select(Lease).where(Lease.image_key == key, Lease.person == annotator))
        expires = now + timedelta(seconds=LEASE_SECONDS)
        if lease is None or aware(lease.expires_at) <= now:
            s.execute(delete(Lease).where(Lease.image_key == key, Lease.person == annotator))
            s.add(Lease(image_key=key, person=annotator, started_at=now, expires_at=expires))
        else:
            lease.expires_at = expires
        s.execute(delete(Lease).where(Lease.expires_at < now - timedelta(days=1)))  # tidy up stale rows
        return items
