"""Two ASGI middlewares: who is asking (the token), and how much they may send (body limits).

The token comes from the `Authorization: Bearer` header, `?token=` on the page entry `/` alone (a token
in other URLs would end up in logs and the browser history; a link opened now wins over an older cookie,
so a re-issued link works in a browser that still holds the revoked token), or the page's httpOnly
cookie. Anything else, or a token of nobody (or of someone revoked), is a 401 before any route runs.

Every request's body is counted as it streams in, whatever Content-Length says: JSON bodies may be at
most `JSON_LIMIT` bytes and mask uploads `max_upload_mb`; above that the answer is 413 at once and the
rest is never read (a 600 MB body costs the server nothing). The body is then handed to the route whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lesionlab.project.people import caller_for_token

COOKIE = "lesionlab_token"
JSON_LIMIT = 1024 * 1024


def token_of(conn: HTTPConnection) -> str | None:
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    linked = conn.query_params.get("token") if conn.url.path == "/" else None
    if linked:  # a personal link opened now wins over an older cookie (revoked, or someone else's)
        return linked
    cookie = conn.cookies.get(COOKIE)
    if cookie:
        return cookie
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


SIGNED_IN_AS = "x-signed-in-as"  # the page's own idea of whom it works for (URL-encoded name)


def other_person(conn: HTTPConnection, name: str) -> str | None:
    """The name a page says it was opened as, when that is not the token's person (else None). The
    cookie is the browser's: a personal link opened in another tab signs every tab in as that person."""
    claimed = conn.headers.get(SIGNED_IN_AS)
    if claimed is None:
        return None
    claimed = unquote(claimed)
    return claimed if claimed != name else None


class TokenAuth:
    """Sets `request.state.caller` from the token, or answers 401 (also when the page says it works for
    another person than the token's: nothing it sends is stored under the wrong name)."""

    def __init__(self, app: ASGIApp, store: Any) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        caller = await run_in_threadpool(caller_for_token, self.store, token_of(conn))
        if caller is None:
            await _answer(send, 401, "missing or unknown token: open the personal link you were given")
            return
        other = other_person(conn, caller.name)
        if other is not None:
            await _answer(
                send,
                401,
                f"this page was opened as {other!r}, but this browser is now signed in as {caller.name!r} "
                f"(their link was opened in another tab); nothing was stored: open {other}'s own link "
                f"again to go on, or reload this page to work as {caller.name}",
            )
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


class BodyLimit:
    """Reads each request body up to its route's limit (`limit_for(scope)` bytes), or answers 413."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        shown = f"{limit / 1024 / 1024:g} MB"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, f"the request body is larger than this route's limit of {shown}")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _answer(send, 413, f"the request body is larger than this route's limit of {shown}")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole, given = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
