"""Errors as RFC 9457 ``application/problem+json``, naming the field and the reason."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aifinops.errors import (
    AccessError,
    AifinopsError,
    NotFoundError,
    StoreDataError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)

__all__ = ["PROBLEM_JSON", "ProblemError", "install_problem_handlers", "invalid", "problem"]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("aifinops.api")


class ProblemError(Exception):
    """Raised by routes to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def invalid(field: str, reason: str) -> ProblemError:
    """A 422 naming the field and the reason: ``invalid("end", "must be after start")``."""
    return ProblemError(
        422, "Invalid request", f"{field}: {reason}", errors=[{"field": field, "reason": reason}]
    )


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _store_problem(request: Request, exc: StoreError) -> JSONResponse:
    """What a client may know of a database error: whether to retry, and the refused value's reason. The
    statement, its parameters and the database URL go to the log only."""
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, StoreUnavailableError):
        _log.warning("%s: the store is unavailable: %s", where, exc)
        return problem(
            503,
            "Store unavailable",
            "the database is unreachable or busy; send the same request again later",
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, StoreDataError):
        _log.warning("%s: the store refused a value: %s", where, exc)
        reason = f"the database cannot store a value of this request: {exc.reason}"
        return problem(422, "Value not storable", reason, errors=[{"field": "(request)", "reason": reason}])
    _log.error("%s: store error", where, exc_info=exc)
    return problem(500, "Store error", "the database failed; the server log has the details")


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal error", "the server failed; the server log has the details")


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"] if p not in ("query", "body", "path")) or "(request)",
            "reason": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "(request)", "reason": "invalid"}
    return problem(422, "Invalid request", f"{first['field']}: {first['reason']}", errors=errors)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, "HTTP error", str(exc.detail))


def _ours(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ProblemError):
        return problem(exc.status, exc.title, exc.detail, **exc.extra)
    if isinstance(exc, ValidationError):
        return problem(
            422,
            "Invalid request",
            str(exc),
            errors=[{"field": exc.field or "(request)", "reason": exc.reason}],
        )
    if isinstance(exc, NotFoundError):
        return problem(404, exc.title, str(exc))
    if isinstance(exc, AccessError):
        return problem(
            401 if "missing" in str(exc) or "unknown" in str(exc) else 403, "Access denied", str(exc)
        )
    if isinstance(exc, StoreError):
        return _store_problem(request, exc)
    return _unexpected(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ProblemError, _ours)
    app.add_exception_handler(AifinopsError, _ours)
    app.add_exception_handler(Exception, _unexpected)  # a bug still answers problem+json, never text
