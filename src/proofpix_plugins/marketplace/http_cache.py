"""Conditional GETs for discovery: a strong ETag over the exact body, 304 on a match.

The ETag hashes the serialized body, so it changes exactly when the answer does (download
counts included) and needs no bookkeeping; a 304 saves the client the bytes, not the server the
query. Downloads use the artifact's sha256, known before the blob is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import BaseModel

#: Lists and listings: shared caches may keep them briefly, then must revalidate.
LIST_CACHE_CONTROL = "public, max-age=30, must-revalidate"
#: A version's bytes never change, but a suspension must take effect: minutes, not "immutable".
DOWNLOAD_CACHE_CONTROL = "public, max-age=300, must-revalidate"


def body_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def matches(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, ``*`` included)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def not_modified(etag: str, cache_control: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})


@dataclass(frozen=True, slots=True)
class Rendered:
    """An answer serialized once, with its ETag: what the page cache keeps."""

    body: bytes
    etag: str


def render(model: BaseModel) -> Rendered:
    body = model.model_dump_json(by_alias=True).encode()
    return Rendered(body, body_etag(body))


def respond(request: Request, rendered: Rendered) -> Response:
    """A rendered answer with ETag and Cache-Control, or a 304 when the client has it."""
    if matches(request, rendered.etag):
        return not_modified(rendered.etag, LIST_CACHE_CONTROL)
    return Response(rendered.body, media_type="application/json",
                    headers={"ETag": rendered.etag, "Cache-Control": LIST_CACHE_CONTROL})


def json_response(request: Request, model: BaseModel) -> Response:
    """``model`` as JSON with ETag and Cache-Control, or a 304 when the client has it."""
    return respond(request, render(model))
