"""A real browser for the console tests: Debian's chromium driven by Playwright, and the app
served by uvicorn on 127.0.0.1 in a thread of its own (its own event loop, lifespan on).

Never a downloaded browser: the executable is ``/usr/bin/chromium`` (or
``PROOFPIX_TEST_CHROMIUM``). Without one the tests skip with the reason, except where
``PROOFPIX_TEST_REQUIRE_SERVICES=1`` (CI) makes the browser a required service: then they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI

from proofpix_plugins.app import create_app
from proofpix_plugins.config import Settings

T = TypeVar("T")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
START_SECONDS = 60.0


def chromium_path() -> str:
    """The system chromium, or a skip (a failure where services are required)."""
    path = os.environ.get("PROOFPIX_TEST_CHROMIUM") or shutil.which("chromium") or \
        ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        reason = ("browser tests need Debian's chromium at /usr/bin/chromium "
                  "(apt-get install -y chromium) or PROOFPIX_TEST_CHROMIUM")
        if os.environ.get("PROOFPIX_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + "; PROOFPIX_TEST_REQUIRE_SERVICES=1 requires it")
        pytest.skip(reason)
    return path


@dataclass
class LiveServer:
    """The app on ``base_url``; ``run`` executes a coroutine on the server's loop."""

    base_url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server
    thread: threading.Thread
    requests: list[str] = field(default_factory=list)
    #: Requests the page's CSP stopped inside the browser: they never reached the network.
    blocked: list[str] = field(default_factory=list)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(START_SECONDS)


def serve(settings: Settings) -> Iterator[LiveServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready: Future[asyncio.AbstractEventLoop] = Future()

    async def started(_: FastAPI) -> None:
        ready.set_result(asyncio.get_running_loop())

    app = create_app(settings, migrate=True, startup_hooks=[started])
    config = uvicorn.Config(app, log_level="warning", log_config=None,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="console-live-server", daemon=True)
    thread.start()
    loop = ready.result(START_SECONDS)
    while not server.started:
        if not thread.is_alive():
            raise AssertionError("uvicorn stopped before it started")
        threading.Event().wait(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, loop, server, thread)
    finally:
        server.should_exit = True
        thread.join(START_SECONDS)
        sock.close()
