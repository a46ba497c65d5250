"""Every request body has a cap chosen by its route and a read timeout, on a real server.

The raw-socket tests talk HTTP/1.1 to uvicorn on 127.0.0.1, as a hostile client would: an
oversized ``Content-Length`` is refused before the body is read, a chunked body is counted as it
streams, and a body that stalls is answered 408.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Request
from starlette.types import Message, Receive, Scope, Send

from proofpix_plugins.app import create_app
from proofpix_plugins.config import Settings
from proofpix_plugins.kit.logging import reset_logging
from proofpix_plugins.storage.uploads import spool_multipart
from tests.fixtures.app import StartApp, client_for

LIMIT = 4096


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "max_json_body_bytes": LIMIT, "max_upload_bytes": 64 * 1024,
        "body_read_timeout_seconds": 0.5,
    })


def upload_router(spooled: list[Path]) -> APIRouter:
    """A route shaped like the real upload routes: it declares multipart and streams."""
    router = APIRouter(prefix="/test-body")

    @router.post("/upload", openapi_extra={"requestBody": {"content": {
        "multipart/form-data": {"schema": {"type": "object"}}}}})
    async def upload(request: Request) -> dict[str, int]:
        settings: Settings = request.app.state.settings
        spooled_upload = await spool_multipart(
            request.headers["content-type"], request.stream(),
            max_bytes=settings.max_upload_bytes, tmp_dir=spooled[0],
        )
        spooled_upload.discard()
        return {"size": spooled_upload.size}

    return router


@contextlib.asynccontextmanager
async def served(settings: Settings, tmp: Path) -> AsyncIterator[tuple[int, Path]]:
    app = create_app(settings, migrate=False, platform=False)
    spool = tmp / "spool"
    spool.mkdir()
    app.include_router(upload_router([spool]))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield port, spool
    finally:
        server.should_exit = True
        await task
        reset_logging()


async def exchange(port: int, head: bytes, body_parts: list[bytes], pause: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


async def test_an_oversized_content_length_is_413_before_the_body_is_sent(
    small: Settings, tmp_path: Path
) -> None:
    async with served(small, tmp_path) as (port, _):
        head = (b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n"
                b"content-length: 300000000\r\n\r\n")
        started = time.monotonic()
        raw = await exchange(port, head, [])

    assert status_of(raw) == 413
    assert b"application/problem+json" in raw
    assert b"max-body-size" in raw
    assert time.monotonic() - started < 5


async def test_a_chunked_body_is_counted_while_it_streams(
    small: Settings, tmp_path: Path
) -> None:
    chunk = b"x" * 1024
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    async with served(small, tmp_path) as (port, _):
        head = (b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n"
                b"transfer-encoding: chunked\r\n\r\n")
        raw = await exchange(port, head, [framed] * 8)

    assert status_of(raw) == 413


async def test_a_stalled_json_body_is_answered_408(small: Settings, tmp_path: Path) -> None:
    async with served(small, tmp_path) as (port, _):
        head = (b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n"
                b"content-length: 100\r\n\r\n")
        started = time.monotonic()
        raw = await exchange(port, head, [b'{"email": '])

    assert status_of(raw) == 408
    assert b"body-read-timeout" in raw
    assert time.monotonic() - started < 5


async def test_a_stalled_upload_is_answered_408_and_its_spool_file_removed(
    small: Settings, tmp_path: Path
) -> None:
    start = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
             b"Content-Type: image/jpeg\r\n\r\n" + b"y" * 1000)
    async with served(small, tmp_path) as (port, spool):
        head = (b"POST /test-body/upload HTTP/1.1\r\nHost: t\r\n"
                b"content-type: multipart/form-data; boundary=B\r\n"
                b"content-length: 50000\r\n\r\n")
        raw = await exchange(port, head, [start])
        await asyncio.sleep(0.1)
        left = list(spool.iterdir())

    assert status_of(raw) == 408
    assert left == []


async def test_an_upload_route_streams_more_than_the_json_cap(
    small: Settings, tmp_path: Path
) -> None:
    payload = b"z" * (LIMIT * 4)
    async with served(small, tmp_path) as (port, _), httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{port}/test-body/upload",
                                     files={"file": ("a.bin", payload)})

    assert response.status_code == 200, response.text
    assert response.json() == {"size": len(payload)}


async def test_a_chunked_upload_past_its_cap_is_413_and_leaves_no_spool_file(
    small: Settings, tmp_path: Path
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield (b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n')
        for _ in range(2000):
            yield b"q" * 1024

    async with served(small, tmp_path) as (port, spool), httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/test-body/upload", content=body(),
            headers={"content-type": "multipart/form-data; boundary=B"},
        )
        left = list(spool.iterdir())

    assert response.status_code == 413
    assert left == []


async def test_multipart_to_a_json_route_gets_only_the_json_cap(
    small: Settings, start_app: StartApp
) -> None:
    async with start_app(small) as app, client_for(app) as client:
        response = await client.post(
            "/api/auth/login", files={"file": ("a.bin", b"z" * (LIMIT * 2))}
        )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_within_the_cap_reaches_the_route(
    small: Settings, start_app: StartApp
) -> None:
    async with start_app(small) as app, client_for(app) as client:
        response = await client.post(
            "/api/auth/login", json={"email": "a@example.com", "password": "p" * 100}
        )

    assert response.status_code == 401


def test_json_bodies_are_capped_at_one_mib_by_default() -> None:
    assert Settings().max_json_body_bytes == 1024 * 1024


async def abort_mid_body(port: int, head: bytes, part: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + part)
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("path", "ctype", "part"),
    [
        ("/api/auth/login", "application/json", b'{"email": '),
        ("/test-body/upload", "multipart/form-data; boundary=B",
         b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nxyz'),
    ],
)
async def test_a_client_abort_is_logged_at_info_and_not_counted_as_a_500(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    path: str, ctype: str, part: bytes,
) -> None:
    async with served(settings, tmp_path) as (port, spool):
        head = (f"POST {path} HTTP/1.1\r\nHost: t\r\ncontent-type: {ctype}\r\n"
                "content-length: 50000\r\n\r\n").encode()
        await abort_mid_body(port, head, part)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        left = list(spool.iterdir())

    logged = capsys.readouterr().out
    assert 'status="500"' not in metrics
    assert 'status="499"' in metrics
    assert "unhandled_error" not in logged
    assert "client_disconnected" in logged
    assert left == []


# --- the parsed JSON handed on (kit/body_guard.py: parsed_json) -------------------------------


async def _through_guard(body: bytes, content_type: bytes | None) -> dict[str, Any]:
    """The request state a handler behind the guard sees for ``body``."""
    from proofpix_plugins.kit.body_guard import BodyGuardMiddleware, BodyLimits

    seen: dict[str, Any] = {}

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope["state"])
        seen["received"] = (await receive())["body"]

    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "query_string": b"",
                    "headers": headers, "state": {}}

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        raise AssertionError(f"the guard answered: {message}")

    guard = BodyGuardMiddleware(handler, BodyLimits(LIMIT, LIMIT, 1.0))
    await guard(scope, receive, send)
    return seen


@pytest.mark.parametrize("content_type", [b"application/json", None, b"application/x+json"])
async def test_the_guard_hands_on_the_json_it_parsed(content_type: bytes | None) -> None:
    from proofpix_plugins.kit.body_guard import JSON_BODY_KEY, parsed_json

    body = b'{"data": {"n": 1.5, "s": "\\u00e9", "l": [1, null, true]}}'
    seen = await _through_guard(body, content_type)
    raw, value = seen[JSON_BODY_KEY]
    assert raw == seen["received"] == body
    assert value == json.loads(body)
    scope = {"state": seen}
    assert parsed_json(scope, body) is value
    # Other bytes than the guard's are parsed on the spot, never answered from the guard's.
    assert parsed_json(scope, b'{"other": 1}') == {"other": 1}
    assert parsed_json({"state": {}}, body) == json.loads(body)


async def test_no_json_is_handed_on_for_other_media_types() -> None:
    from proofpix_plugins.kit.body_guard import JSON_BODY_KEY

    seen = await _through_guard(b'{"a": 1}', b"text/plain")
    assert JSON_BODY_KEY not in seen
