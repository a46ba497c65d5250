"""The hook route's HTTP path in process, without sockets: the app's ASGI stack against the floor's.

    .venv/bin/python bench/hook_path.py [--rounds 5] [--requests 3000]

Builds the app (``create_app()``, a fresh SQLite data dir, the platform started) and the bare
FastAPI floor of bench/api.py, both behind uvicorn's ProxyHeadersMiddleware as uvicorn runs them,
and calls each with a ready-made ASGI scope: ``POST /api/plugins/hooks/bench:none`` (an
enterprise admin's token, ``{"data": {}}``, no plugin has the hook: routing, middleware, edge
guard, rate limit, authentication with the epoch re-check, validation, the hook bus and the
response) against the floor's ``POST /floor``. Prints the median per request of each round, app
and floor alternating. No network, no client, no sandboxed call: what is left is the server's own
CPU per request, which is what the HTTP bench's ratio is made of besides the socket writes.
``BENCH_CPROFILE=file`` writes a cProfile of one extra app round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).parent))

import api as bench_api

Scope = dict[str, Any]


def _scope(path: str, token: str | None, body: bytes) -> Scope:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5555), "scheme": "http", "method": "POST",
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": headers, "state": {}}


async def _round(app: Any, path: str, token: str | None, n: int) -> float:
    """Median seconds per request over ``n`` requests."""
    body = b'{"data": {}}'
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    times: list[float] = []
    for _ in range(n):
        sent.clear()
        scope = _scope(path, token, body)
        t0 = time.perf_counter()
        await app(scope, receive, send)
        times.append(time.perf_counter() - t0)
        if sent[0]["status"] >= 400:
            raise RuntimeError(f"{path}: HTTP {sent[0]['status']}: {sent[1].get('body')!r}")
    times.sort()
    return times[len(times) // 2]


async def run(args: argparse.Namespace) -> None:
    from fastapi import FastAPI
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    work = Path(tempfile.mkdtemp(prefix="bench-hook-path-"))
    os.chmod(work, 0o711)  # noqa: S103 - plugin uids traverse it, as in bench/api.py
    env = {"PROOFPIX_ENV": "development", "PROOFPIX_DATA_DIR": str(work / "data"),
           "PROOFPIX_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'data' / 'proofpix.db'}",
           "PROOFPIX_JWT_SECRET": secrets.token_urlsafe(48), "PROOFPIX_LOG_LEVEL": "WARNING",
           "PROOFPIX_ACCESS_TOKEN_TTL_SECONDS": "86400", "PROOFPIX_SCAN_BANDIT_WORKERS": "0"}
    for cls in ("default", "auth", "plugin_ops", "hooks", "uploads"):
        env[f"PROOFPIX_RATE_LIMIT_{cls.upper()}"] = bench_api.GENEROUS
    os.environ.update(env)
    token = await bench_api.seed_account(env)

    floor = FastAPI()

    async def floor_post(body: dict[str, Any]) -> dict[str, Any]:
        return {"hook": "floor", "results": [body]}

    floor.add_api_route("/floor", floor_post, methods=["POST"])
    from proofpix_plugins.app import create_app

    app = create_app()
    floor_app = ProxyHeadersMiddleware(cast(Any, floor))
    proofpix_app = ProxyHeadersMiddleware(cast(Any, app))
    hook = "/api/plugins/hooks/bench:none"
    async with app.router.lifespan_context(app):
        await _round(proofpix_app, hook, token, 500)  # warm-up
        await _round(floor_app, "/floor", None, 500)
        if os.environ.get("BENCH_CPROFILE"):
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            await _round(proofpix_app, hook, token, args.requests)
            prof.disable()
            prof.dump_stats(os.environ["BENCH_CPROFILE"])
        ratios = []
        for i in range(args.rounds):
            a = await _round(proofpix_app, hook, token, args.requests)
            f = await _round(floor_app, "/floor", None, args.requests)
            ratios.append(a / f)
            print(f"round {i + 1}: app {a * 1e6:.1f} us, floor {f * 1e6:.1f} us, "
                  f"app - floor {(a - f) * 1e6:.1f} us ({a / f:.2f} x)", flush=True)
    print(f"median ratio {sorted(ratios)[len(ratios) // 2]:.2f} x; load average "
          f"{os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
