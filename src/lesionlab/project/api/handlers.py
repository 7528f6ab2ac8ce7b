"""Domain errors to HTTP status codes, in one place: the type decides, never the message's text.

Every error answer is `{"detail": "one readable sentence"}`, request validation errors included.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lesionlab.errors import DataError
from lesionlab.project.exceptions import Conflict, Forbidden, Invalid, NotFound, TooLarge, Unauthorized

STATUS: dict[type[Exception], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    DataError: 422,  # any other value the project cannot use as given
}


def status_of(exc: Exception) -> int:
    """The status of the most specific known type in the error's class hierarchy."""
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


async def domain_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's list of problems as one sentence naming each field."""
    parts = []
    for err in exc.errors():  # type: ignore[attr-defined]
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DataError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
