"""The people of a project: invited by name with a role, each with a personal token.

A token is shown once, when it is made (`lesionlab project invite` prints it inside the page's address),
and only its SHA-256 is stored, so a copy of the database gives nobody a way in. The name an annotation
records always comes from the token, never from what a page sends, so nobody can act under another's
name. Roles are cumulative: an annotator labels, draws and undoes their own work; a reviewer also handles
audit flags and adjudicates disagreements; an admin may also manage people.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from lesionlab.errors import DataError
from lesionlab.project.exceptions import Conflict, Invalid, NotFound
from lesionlab.project.models import ROLES, Annotation, Lease, Person, utcnow
from lesionlab.project.store import ProjectStore

Where = Any  # a Project or its ProjectStore: the functions below need only the store

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 url-safe characters, 256 random bits
RESERVED = frozenset({"import", "consensus", "model"})  # names other annotation sources use


@dataclass(frozen=True)
class Caller:
    """The person a request comes from (what the service layer is given)."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this person's role includes `role` (admin > reviewer > annotator)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def name_key(name: str) -> str:
    """What two spellings of one name share: "Alice", " alice", "ÉLODIE" and "élodie", a composed and a
    decomposed "José" (NFKC, case-folded, stripped). Compared in Python: SQLite's lower() folds ASCII only,
    so a database comparison let "Élodie" and "élodie" stand as two people."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def _check(name: str, role: str) -> str:
    clean = unicodedata.normalize("NFC", name.strip())
    if not clean or len(clean) > 128 or any(ord(c) < 32 for c in clean):
        raise Invalid(f"a person's name must be 1-128 printable characters, got {name!r}")
    if name_key(clean) in RESERVED:
        raise Invalid(f"{clean!r} is a name lesionlab uses for its own annotations; choose another")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return clean


def _store(where: Where) -> ProjectStore:
    return where.store if hasattr(where, "store") else where


def invite(
    where: Where, name: str, role: str | None = None, new_token: bool = False, same_person: bool = False
) -> str:
    """Add a person and return their token (shown once). Inviting a name that exists is refused unless
    `new_token`: then their token is replaced (the old one stops working) and their role set to `role`,
    or kept when `role` is None (a reviewer's lost link replaced does not demote them; a new person is an
    annotator unless `role` says otherwise).
    A revoked person is let in again only with `same_person`: answers are recorded by name, so anyone
    else invited under it would see the departed person's answers as their own and could undo them."""
    store, name = _store(where), _check(name, role or "annotator")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        with store.session() as s:
            row = _person(s, name)
            if row is not None and row.revoked_at is not None and not same_person:
                raise Conflict(
                    f"{row.name!r} was revoked and their answers stay theirs: give --same-person if this is "
                    "them again, or invite this person under another name"
                )
            if row is not None and not (new_token or same_person):
                raise Conflict(
                    f"{row.name!r} is invited already ({row.role}); give --new-token to replace their token"
                )
            if row is None:
                _refuse_imported(s, name)
                s.add(Person(name=name, role=role or "annotator", token_sha256=hash_token(token)))
            else:
                row.token_sha256, row.role, row.revoked_at = hash_token(token), role or row.role, None
    except IntegrityError as exc:  # the same name invited at the same moment by someone else
        raise Conflict(f"{name!r} was just invited by someone else; run the command again") from exc
    return token


def _refuse_imported(s: Any, name: str) -> None:
    """A new person never takes a name that answers were imported under (`project import --annotator`):
    a name's newest answer is its standing one, so their first answer on the page would replace the file's,
    and an undo would bring the file's back as theirs (the mirror of `interchange.check_importer`)."""
    key = name_key(name)
    found = next((a for a in s.scalars(select(Annotation.annotator).distinct()) if name_key(a) == key), None)
    if found is not None:
        raise Conflict(
            f"{name!r}: labels were imported under the name {found!r} (project import --annotator); "
            "invite this person under another name"
        )


def _person(s: Any, name: str) -> Person | None:
    """The invited person `name` names (locked), compared as `invite` compares names (`name_key`): the
    exact name if it is one, else the one spelling; two other spellings stored before this rule: Conflict."""
    key = name_key(name)
    rows = [p for p in s.scalars(select(Person).with_for_update()) if name_key(p.name) == key]
    exact = [p for p in rows if p.name == unicodedata.normalize("NFC", name.strip())]
    if exact or len(rows) <= 1:
        return (exact or rows or [None])[0]
    raise Conflict(f"{name!r} may be any of {', '.join(repr(p.name) for p in rows)}; give the exact name")


def revoke(where: Where, name: str) -> str:
    """The person's token stops working at once and their leases end; their annotations stay. `name` is
    matched as `invite` matches it (revoking "alice" revokes the invited "Alice", never nobody); returns
    the stored name."""
    with _store(where).session() as s:
        row = _person(s, name)
        if row is None:
            raise NotFound(f"nobody called {name!r} is invited to this project")
        row.revoked_at = row.revoked_at or utcnow()
        # the images they held open go back to the others at once, not when the leases run out
        s.execute(delete(Lease).where(Lease.person == row.name))
        return row.name


def people(where: Where) -> list[dict[str, Any]]:
    """Everyone invited: name, role, when, and whether revoked (never a token or its hash)."""
    with _store(where).session() as s:
        rows = list(s.scalars(select(Person).order_by(Person.id)))
    return [
        {
            "name": p.name,
            "role": p.role,
            "invited_at": p.created_at.isoformat(),
            "revoked": p.revoked_at is not None,
        }
        for p in rows
    ]


def caller_for_token(where: Where, token: str | None) -> Caller | None:
    """The invited, not revoked, person holding `token`, or None."""
    if not token or len(token) > 256:
        return None
    with _store(where).session() as s:
        row = s.scalar(
            select(Person).where(Person.token_sha256 == hash_token(token), Person.revoked_at.is_(None))
        )
    return None if row is None else Caller(row.name, row.role)


def require_someone(where: Where, project_dir: object) -> None:
    """`project serve` refuses to start a server nobody can use."""
    with _store(where).session() as s:
        n = s.scalar(select(func.count()).select_from(Person).where(Person.revoked_at.is_(None)))
    if not n:
        raise DataError(f"nobody is invited yet: lesionlab project invite {project_dir} NAME --role admin")
