"""A small real marketplace server implementing the submission contract ``plugin publish``
speaks (until the "pub" routes are merged): uvicorn on 127.0.0.1, a real scan of every upload.

Decisions: a package the scanner rejects is ``rejected`` with its report; release notes
containing "review" go to ``in_review``; everything else is ``published``. A submission moves
pending → scanning → decision over successive status reads, so the client's polling is real.
A submitted signature is checked against the registered public key, as the server will.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, File, Form, Header, UploadFile
from fastapi.responses import JSONResponse

from proofpix_plugins.packages.signing import verify_digest
from proofpix_plugins.scanning.scanner import default_checks, scan_package

API_KEY = "ppk_test_0123456789"


@dataclass
class Market:
    public_key: bytes | None = None
    submissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": "error", "status": status,
                         "detail": detail, "errors": []}, status_code=status,
                        media_type="application/problem+json")


def build_app(market: Market) -> FastAPI:
    app = FastAPI()

    @app.post("/api/developers/plugins", status_code=202, response_model=None)
    async def submit(
        file: UploadFile = File(...),  # noqa: B008 - FastAPI's declaration style
        releaseNotes: str | None = Form(None),  # the wire name is camelCase
        signature: str | None = Form(None),
        x_api_key: str | None = Header(None),
    ) -> JSONResponse | dict[str, Any]:
        if x_api_key != API_KEY:
            return _problem(401, "invalid API key")
        data = await file.read()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.ppx"
            path.write_bytes(data)
            report = await asyncio.to_thread(
                scan_package, path, platform_version="0.1.0", python_version="3.11.7",
                checks=default_checks(disabled=["bandit"]))
        if market.public_key is not None:
            if not signature:
                return _problem(422, "submissions must be signed")
            if not report.sha256 or not verify_digest(report.sha256, signature,
                                                      market.public_key):
                return _problem(422, "the signature does not verify")
        market.received.append({"notes": releaseNotes, "signature": signature,
                                "size": len(data)})
        sid = str(uuid.uuid4())
        decision = ("rejected" if report.rejected
                    else "in_review" if releaseNotes and "review" in releaseNotes
                    else "published")
        market.submissions[sid] = {
            "id": sid, "pluginId": report.manifest.id if report.manifest else None,
            "version": report.manifest.version if report.manifest else None,
            "decision": decision, "scanReport": report.to_json(),
        }
        return {"id": sid, "status": "pending", "pluginId": market.submissions[sid]["pluginId"],
                "version": market.submissions[sid]["version"],
                "statusUrl": f"/api/developers/submissions/{sid}"}

    @app.get("/api/developers/submissions/{sid}", response_model=None)
    async def status(sid: str, x_api_key: str | None = Header(None)) -> JSONResponse | dict[
            str, Any]:
        if x_api_key != API_KEY:
            return _problem(401, "invalid API key")
        sub = market.submissions.get(sid)
        if sub is None:
            return _problem(404, "no such submission")
        n = market.reads[sid] = market.reads.get(sid, 0) + 1
        state = "pending" if n == 1 else "scanning" if n == 2 else sub["decision"]
        rejected = state == "rejected"
        return {"id": sid, "pluginId": sub["pluginId"], "version": sub["version"],
                "status": state,
                "scanReport": sub["scanReport"] if n > 2 else None,
                "reviewReasons": ["first version of this plugin"] if state == "in_review" else [],
                "decisionReason": "the scan found blocking problems" if rejected else None}

    return app


@contextmanager
def serve(market: Market) -> Iterator[str]:
    """Run the app with uvicorn in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(market), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
