"""Why a person's queue is empty, in the queue's own terms.

The page once said "every proposed image is labelled" whenever the queue came back empty, which was false
after a skip with 29 of 30 images done: the page guessed the reason from an empty list. Now the server
says it, counted by the very rules that build the queue (`ProjectStore.queue_reasons`), so the page's
sentence cannot disagree with the queue.
"""

from __future__ import annotations

from typing import Any

from lesionlab.project.people import Caller
from lesionlab.project.project import Project


def nothing_now(project: Project, caller: Caller) -> dict[str, Any]:
    """The state of an empty queue: `skipped` (the caller skipped images still open: they may revisit
    them), `others` (open images wait only for other people: their own open pages, or more annotators for
    `overlap`), `no_proposals` (nothing proposed yet), `waiting_proposals` (every proposed image is done;
    unannotated images wait for the next `propose`), `all_done` (every image in the project is done);
    with the counts behind it and when the first of others' leases ends."""
    counts = project.store.queue_reasons(caller.name)
    store = project.store
    usable = set(store.image_ids())
    proposed = store.proposed_ids() & usable
    done = {
        iid
        for iid, st in store.standing(store.kind).items()
        if len(st.raters) >= project.config.overlap or st.adjudication is not None
    }
    unproposed = len(usable - proposed - done)
    skipped, yours, leased = (counts.get(k, 0) for k in ("skipped", "yours", "leased"))
    if skipped:
        state = "skipped"
    elif yours or leased:
        state = "others"
    elif not proposed:
        state = "no_proposals"
    elif unproposed:
        state = "waiting_proposals"
    else:
        state = "all_done"
    lease_end = store.next_lease_end(caller.name) if leased else None
    return {
        "state": state,
        "skipped": skipped,
        "yours_waiting_for_others": yours,
        "open_elsewhere": leased,
        "proposed": len(proposed),
        "unproposed": unproposed,
        "lease_ends": lease_end.isoformat() if lease_end else None,
    }


def revisit_skipped(project: Project, caller: Caller) -> dict[str, Any]:
    """The caller's skipped images come back to their queue (each person's skips are their own)."""
    return {"revisited": project.store.unskip(caller.name)}
