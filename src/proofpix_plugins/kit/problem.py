"""RFC 9457 problem details: how every error, ours or the framework's, reaches the client.

One rendering path for everything: domain errors (:class:`ProofPixError`), Starlette's HTTP
errors (404, 405, ...), request validation and anything unexpected. Unexpected errors are logged
with the request id and answered with a generic 500 body, so no stack trace ever leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from proofpix_plugins.errors import (
    FieldError,
    InsufficientStorage,
    ProofPixError,
    ServiceUnavailable,
    ValidationFailed,
    is_disk_full,
)
from proofpix_plugins.kit.routes import routes_on_path

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://proofpix.dev/problems/"

log = structlog.get_logger("proofpix.problem")

# Pydantic prefixes messages of errors raised in validators; the prefix only adds noise.
_VALUE_ERROR_PREFIXES = ("Value error, ", "Assertion failed, ")


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem_body(
    *,
    status: int,
    title: str,
    detail: str,
    type_uri: str,
    instance: str | None = None,
    errors: Iterable[FieldError] = (),
    request_id: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_uri,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body["errors"] = [e.as_dict() for e in errors]
    if request_id is not None:
        body["requestId"] = request_id
    for key, value in (extensions or {}).items():
        # Extensions add members; they never overwrite the standard ones.
        body.setdefault(key, value)
    return body


def _request_id(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def error_response(request: Request, error: ProofPixError) -> ProblemResponse:
    """The problem+json response for one of our errors (used by handlers and endpoints)."""
    body = problem_body(
        status=error.status,
        title=error.title,
        detail=error.detail,
        type_uri=error.type_uri,
        instance=request.url.path,
        errors=error.errors,
        request_id=_request_id(request),
        extensions=error.extensions,
    )
    return ProblemResponse(body, status_code=error.status, headers=dict(error.headers))


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-")
    except ValueError:
        return "http-error"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP Error"


def http_error_response(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> ProblemResponse:
    body = problem_body(
        status=status,
        title=_title(status),
        detail=detail,
        type_uri=PROBLEM_BASE + _slug(status),
        instance=request.url.path,
        request_id=_request_id(request),
    )
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def field_name(loc: Sequence[int | str]) -> str:
    """Pydantic's ``loc`` as a dotted field name; the body location is implied."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts)


def validation_field_errors(raw: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    out: list[FieldError] = []
    for err in raw:
        message = str(err.get("msg", "invalid value"))
        for prefix in _VALUE_ERROR_PREFIXES:
            if message.startswith(prefix):
                message = message[len(prefix) :]
        out.append(
            FieldError(
                field=field_name(tuple(err.get("loc", ()))),
                message=message,
                rule=str(err.get("type", "invalid")),
            )
        )
    return out


def internal_error_response(request: Request) -> ProblemResponse:
    return http_error_response(
        request, 500, "An unexpected error occurred; quote the request id when reporting it."
    )


async def _on_proofpix_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProofPixError)
    if exc.status >= 500:
        log.error("domain_error", error=type(exc).__name__, detail=exc.detail)
    return error_response(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        if detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        # Starlette names only the first route on the path; Allow must list every method.
        allowed = {m for route, _ in routes_on_path(request.scope) for m in route.methods or ()}
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
    return http_error_response(request, exc.status_code, detail, headers)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_field_errors(exc.errors())
    fields = ", ".join(sorted({e.field for e in errors}))
    error = ValidationFailed(detail=f"The request has invalid fields: {fields}", errors=errors)
    return error_response(request, error)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientDisconnect):
        # Nobody is left to answer; the request middleware logs it at info and counts a 499.
        return Response(status_code=499)
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return internal_error_response(request)


DISK_FULL_DETAIL = ("The server's storage is full; nothing was kept. Retry the request once "
                    "space is freed.")


def _disk_full_response(request: Request, exc: Exception) -> Response:
    """507: the disk (blob store, spool, SQLite's file) could not grow; nothing was kept."""
    log.error("disk_full", path=request.url.path, method=request.method,
              error=type(exc).__name__, detail=str(exc).splitlines()[0][:300] if str(exc) else "")
    return error_response(request, InsufficientStorage(DISK_FULL_DETAIL))


async def _on_os_error(request: Request, exc: Exception) -> Response:
    if not is_disk_full(exc):
        return await _on_unexpected(request, exc)
    return _disk_full_response(request, exc)


def _sqlite_disk_full(exc: Exception) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full"): its file could not grow."""
    return isinstance(exc, sa.OperationalError) and "database or disk is full" in str(exc.orig)


def _database_unavailable(exc: Exception) -> bool:
    """A failure of the connection to the database, not of the statement: the connection was
    dropped (``pg_terminate_backend``, a failover, a restart), none could be opened or checked
    out in time, or the server refused the operation for now (SQLite: locked)."""
    if isinstance(exc, sa.TimeoutError):  # no pooled connection within pool_timeout
        return True
    if isinstance(exc, sa.DBAPIError):
        lost = isinstance(exc, sa.OperationalError | sa.InterfaceError)
        return exc.connection_invalidated or lost
    return False


async def _on_database_error(request: Request, exc: Exception) -> Response:
    if _sqlite_disk_full(exc):
        # The statement's transaction was rolled back: nothing was kept.
        return _disk_full_response(request, exc)
    if not _database_unavailable(exc):
        return await _on_unexpected(request, exc)
    log.warning("database_unavailable", path=request.url.path, method=request.method,
                error=type(exc).__name__, detail=str(exc).splitlines()[0][:300])
    # Whatever the request did in its transaction was rolled back with the connection.
    return error_response(request, ServiceUnavailable(
        "The database is unavailable; nothing was changed. Retry the request."))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProofPixError, _on_proofpix_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_exception_handler(OSError, _on_os_error)
    app.add_exception_handler(sa.DBAPIError, _on_database_error)
    app.add_exception_handler(sa.TimeoutError, _on_database_error)
