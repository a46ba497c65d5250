"""The request edge: body size caps, a read timeout, and the JSON the databases can store.

Pure ASGI, inside :class:`~proofpix_plugins.kit.middleware.RequestMiddleware` (so its answers
get a request id, security headers and metrics) and before any route runs:

* A path or query string holding NUL (U+0000) is refused (404 for the path, 422 naming the
  query parameter): PostgreSQL cannot store NUL in text, so it must never reach a query.
* Every body has a cap chosen by route. A route that documents a ``multipart/form-data`` request
  body (photo and package uploads) streams up to the upload limit plus a small envelope, and
  its own parser keeps enforcing the per-part limits; every other body (JSON) is capped at
  ``max_json_body_bytes``. A ``Content-Length`` over the cap is answered 413 before one byte is
  read; a body without one (chunked) is counted while it streams.
* A body that stalls (no bytes for ``body_read_timeout_seconds``) is answered 408.
* A non-upload body is read here in full (it is small by the cap above), and when it is JSON
  (declared, or undeclared as FastAPI assumes) it must parse, hold only finite numbers and no NUL
  anywhere: otherwise 422 names the field and the rule. ``NaN`` or ``1e400`` would be stored by
  SQLite as non-standard JSON and refused by PostgreSQL's JSONB with a 500, so no handler ever
  sees one.

A streamed upload cannot be answered from here once the handler reads it, so over-size and
stalled streams raise :class:`PayloadTooLarge` / :class:`RequestTimeout` from ``receive``; the
upload parser removes its temporary file and the problem handlers answer.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proofpix_plugins.errors import (
    FieldError,
    NotFound,
    PayloadTooLarge,
    ProofPixError,
    ValidationFailed,
)
from proofpix_plugins.kit.problem import error_response
from proofpix_plugins.kit.routes import declared_request_media_types, routes_on_path

# Request-state key: the client went away before its request body was complete.
CLIENT_GONE_KEY = "client_disconnected"
# Request-state key: (the body, its JSON value) once the guard has parsed a JSON body.
JSON_BODY_KEY = "json_body"
# Multipart framing and the small text fields beside the file part (uploads.MAX_PARTS x 64 KiB).
MULTIPART_ENVELOPE_BYTES = 1024 * 1024


class RequestTimeout(ProofPixError):
    """The client stopped sending its request body."""

    status = 408
    title = "Request Timeout"
    slug = "request-timeout"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    json_bytes: int
    upload_bytes: int
    read_timeout_seconds: float


class _Disconnected(Exception):
    """The client closed the connection before its body was complete (internal signal)."""


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = _nul_in_target(scope)
        if error is not None:
            await _answer(scope, receive, send, error)
            return

        media = _media_type(scope)
        streamed = media == "multipart/form-data" and _declares_multipart(scope)
        cap = (self.limits.upload_bytes + MULTIPART_ENVELOPE_BYTES if streamed
               else self.limits.json_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _answer(scope, receive, send, _too_large(cap))
            return
        if declared == 0 or (declared is None and not _chunked(scope)):
            await self.app(scope, receive, send)
            return

        state: dict[str, Any] = scope.setdefault("state", {})
        timeout = self.limits.read_timeout_seconds
        if streamed:
            await self.app(scope, _counting_receive(receive, cap, timeout, state), send)
            return
        try:
            body = await _read_body(receive, cap, timeout)
        except _Disconnected:
            state[CLIENT_GONE_KEY] = True
            return
        except ProofPixError as exc:
            await _answer(scope, receive, send, exc)
            return
        # An untyped body is JSON to FastAPI, except on an upload route: that one answers 415.
        untyped_upload = media is None and _declares_multipart(scope)
        if _is_json_media(media) and body and not untyped_upload:
            invalid, value = _parse_json(body)
            if invalid is not None:
                await _answer(scope, receive, send, invalid)
                return
            # Handlers that parse the same bytes as JSON may take this value instead
            # (:func:`parsed_json`): it is what ``json.loads`` gives for them.
            state[JSON_BODY_KEY] = (body, value)
        await self.app(scope, _replay(body, receive), send)


def parsed_json(scope: Scope, raw: bytes) -> Any:
    """``json.loads(raw)`` for a request body the guard already parsed, without parsing it again
    (the guard's parse accepted only UTF-8, on which the two agree); else parsed here."""
    seen = scope.get("state", {}).get(JSON_BODY_KEY)
    if seen is not None and seen[0] == raw:
        return seen[1]
    return json.loads(raw)


# --- routing ----------------------------------------------------------------------------------


def _declares_multipart(scope: Scope) -> bool:
    """Whether the route this request reaches documents a ``multipart/form-data`` body."""
    for route, match in routes_on_path(scope):
        if match is Match.FULL:
            return "multipart/form-data" in declared_request_media_types(route)
    return False


# --- headers ----------------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _media_type(scope: Scope) -> str | None:
    raw = _header(scope, b"content-type")
    if raw is None:
        return None
    return raw.decode("latin-1").split(";", 1)[0].strip().lower()


def _is_json_media(media: str | None) -> bool:
    # FastAPI parses a body without a content type as JSON too.
    if media is None or media == "":
        return True
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None  # the server already refuses these; count while reading instead


def _chunked(scope: Scope) -> bool:
    raw = _header(scope, b"transfer-encoding")
    return raw is not None and b"chunked" in raw.lower()


# --- reading ----------------------------------------------------------------------------------


def _too_large(cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body exceeds {cap} bytes",
        errors=(FieldError("body", f"larger than {cap} bytes", "max-body-size", cap),),
        headers={"Connection": "close"},
    )


def _stalled(seconds: float) -> RequestTimeout:
    return RequestTimeout(
        f"no request body bytes arrived for {seconds:g} s",
        errors=(FieldError("body", f"stalled for {seconds:g} s", "body-read-timeout", seconds),),
        headers={"Connection": "close"},
    )


async def _receive_within(receive: Receive, seconds: float) -> Message:
    try:
        async with asyncio.timeout(seconds):
            return await receive()
    except TimeoutError:
        raise _stalled(seconds) from None


async def _read_body(receive: Receive, cap: int, stall_seconds: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await _receive_within(receive, stall_seconds)
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _counting_receive(
    receive: Receive, cap: int, timeout: float, state: dict[str, Any]
) -> Receive:
    size = 0
    done = False

    async def wrapped() -> Message:
        nonlocal size, done
        if done:
            return await receive()
        message = await _receive_within(receive, timeout)
        if message["type"] == "http.disconnect":
            state[CLIENT_GONE_KEY] = True
            done = True
            return message
        size += len(message.get("body", b""))
        if size > cap:
            done = True
            raise _too_large(cap)
        if not message.get("more_body", False):
            done = True
        return message

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: only the disconnect is left to hear

    return wrapped


async def _answer(scope: Scope, receive: Receive, send: Send, error: ProofPixError) -> None:
    await error_response(Request(scope), error)(scope, receive, send)


# --- what a database can store ----------------------------------------------------------------


def _nul_in_target(scope: Scope) -> ProofPixError | None:
    if "\x00" in scope.get("path", ""):
        return NotFound(
            "the path contains a NUL character",
            errors=(FieldError("path", "must not contain NUL (U+0000)", "no-nul"),),
        )
    raw: bytes = scope.get("query_string", b"")
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    errors = tuple(
        FieldError(f"query.{name.replace(chr(0), '')}", "must not contain NUL (U+0000)", "no-nul")
        for name, value in pairs if "\x00" in name or "\x00" in value
    )
    if not errors:
        return None
    return ValidationFailed(
        f"The request has invalid fields: {', '.join(e.field for e in errors)}", errors=errors
    )


class _NotFinite(ValueError):
    """A JSON number that is not a finite double (internal signal)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _no_constant(name: str) -> Any:
    raise _NotFinite(name)


# ``json.loads(text, parse_float=..., parse_constant=...)`` builds this decoder (and its scanner)
# on every call; one is enough (decoding keeps no state).
_STRICT_JSON = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


def _parse_json(body: bytes) -> tuple[ValidationFailed | None, Any]:
    """(what is wrong with ``body`` as JSON, None) or (None, its value)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _unparsable("is not UTF-8"), None
    try:
        value = _STRICT_JSON.decode(text)
    except _NotFinite:
        # Parse again, marking non-finite numbers, to name where each one is.
        marked = json.loads(text, parse_float=_mark_float, parse_constant=_mark_constant)
        errors = list(_walk(marked, ""))
        return _invalid(errors), None
    except RecursionError:
        return _unparsable("nests too deeply"), None
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        return _unparsable(str(exc)[:200]), None
    errors = list(_walk(value, ""))
    return (_invalid(errors), None) if errors else (None, value)


class _Bad:
    """Stands in for a non-finite number while locating it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _mark_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Bad(text)


def _mark_constant(name: str) -> Any:
    return _Bad(name)


def _walk(value: Any, path: str) -> Iterator[FieldError]:
    where = path or "body"
    if isinstance(value, _Bad):
        yield FieldError(where, f"{value.text[:40]} is not a finite number", "finite-number")
    elif isinstance(value, str):
        if "\x00" in value:
            yield FieldError(where, "must not contain NUL (U+0000)", "no-nul")
    elif isinstance(value, dict):
        for key, child in value.items():
            if "\x00" in key:
                yield FieldError(_join(path, key.replace("\x00", "\\u0000")),
                                 "names must not contain NUL (U+0000)", "no-nul")
                continue
            yield from _walk(child, _join(path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, _join(path, str(index)))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _invalid(errors: list[FieldError]) -> ValidationFailed:
    fields = ", ".join(sorted({e.field for e in errors}))
    return ValidationFailed(f"The request has invalid fields: {fields}", errors=errors[:50])


def _unparsable(why: str) -> ValidationFailed:
    return ValidationFailed(
        "request body is not valid JSON",
        errors=(FieldError("body", why, "json_invalid"),),
    )
