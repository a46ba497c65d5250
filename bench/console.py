"""Server-side rendering time of every console page on demo-sized data (issue #16, SPEC §13).

    .venv/bin/python bench/console.py [--requests 200]

Starts the app in process with the plugin platform (a fresh data dir, SQLite), seeds an
enterprise organization and its owner, installs the four example plugins through the console's
own install flow (upload, consent), configures and loads the ones that run on uploads, uploads
one photo, then requests each page with a signed-in cookie session through httpx's ASGI
transport (no sockets: the time is the app's own, routing to the last byte of HTML). The floor,
measured in the same run and interleaved with the pages, is ``GET /api/health`` (the app's
middleware stack and a cached probe), and ``GET /api/plugins`` is the JSON API's list of the
same data. Goal: every page p50 ≤ 20 ms. Exit status 1 when a page misses it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.app import build_test_settings
from tests.marketplace.market_seed import counter_manifest, developer, publish
from tests.plugins.builders import gps_jpeg

from _stats import percentile
from proofpix_plugins.app import create_app
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Role, Tier
from proofpix_plugins.packages.pack import write_archive

GOAL_MS = 20.0
PASSWORD = "bench console password"  # noqa: S105 - a throwaway account in a temp dir
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def _seed(client: httpx.AsyncClient, app: object, work: Path) -> tuple[str, str, str]:
    from proofpix_plugins.accounts.service import AccountService

    state = app.state  # type: ignore[attr-defined]
    async with session_scope(state.session_factory) as db:
        await AccountService(db, state.passwords, state.access_tokens,
                             state.settings.refresh_token_ttl_seconds).create_account(
            email="bench@example.com", password=PASSWORD, name="Bench", org_name="Bench Co",
            tier=Tier.enterprise, role=Role.owner, platform_admin=True)
    login = await client.get("/login")
    await client.post("/login", data={"email": "bench@example.com", "password": PASSWORD,
                                      "csrf_token": _csrf(login.text)})
    csrf = _csrf((await client.get("/")).text)
    for example in sorted(EXAMPLES.iterdir()):
        if not (example / "plugin.json").is_file():
            continue  # examples/ also holds scripts (make_sample_photo.py)
        package = write_archive_to(example, work)
        with package.open("rb") as fh:
            consent = await client.post("/console/install", data={"csrf_token": csrf},
                                        files={"file": (package.name, fh, "application/zip")})
        token = consent.text.split('name="token" value="', 1)[1].split('"', 1)[0]
        await client.post("/console/install/confirm", data={"csrf_token": csrf, "token": token})
    listing = (await client.get("/console/plugins")).text
    ids = sorted(set(re.findall(r'href="/console/plugins/([a-z0-9.-]+)"', listing)))
    for pid in ids:
        await client.post(f"/console/plugins/{pid}/load", data={"csrf_token": csrf})
    with gps_jpeg(work / "photo.jpg").open("rb") as fh:
        photo = await client.post("/console/photos", data={"csrf_token": csrf},
                                  files={"file": ("photo.jpg", fh, "image/jpeg")})
    return ids[0], photo.headers["location"], csrf


def write_archive_to(src: Path, work: Path) -> Path:
    out = work / f"{src.name}.ppx"
    write_archive(src, out)
    return out


async def _time(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = await client.get(path, headers=headers)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


async def run(requests: int) -> int:
    work = Path(tempfile.mkdtemp(prefix="ppx-bench-console-", dir="/tmp"))
    os.chmod(work, 0o711)  # noqa: S103 - plugin uids traverse, never list
    try:
        settings = build_test_settings(f"sqlite+aiosqlite:///{work / 'bench.db'}",
                                       work / "data", plugin_metrics_flush_seconds=3600)
        app = create_app(settings, migrate=True)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://127.0.0.1") as client:
                pid, photo, _ = await _seed(client, app, work)
                token = await _api_token(client)
                listing = await _seed_marketplace(app, work)
                pages = ["/", "/?q=bench&sort=name", f"/marketplace/{listing}",
                         f"/marketplace/{listing}/install", "/console/plugins",
                         f"/console/plugins/{pid}", "/console/install", "/console/photos", photo,
                         "/console/updates", "/console/developer",
                         "/console/developer/submissions", "/console/admin/review",
                         "/console/admin/featured", "/console/admin/listings",
                         f"/console/admin/listings/{listing}", "/console/admin/analytics"]
                targets = {"floor: GET /api/health": ("/api/health", {}),
                           "API: GET /api/plugins (JSON)": (
                               "/api/plugins", {"authorization": f"Bearer {token}"})}
                targets.update({f"page: GET {p}": (p, {}) for p in pages})
                samples: dict[str, list[float]] = {name: [] for name in targets}
                for path, headers in targets.values():  # warm-up
                    for _ in range(5):
                        await _time(client, path, headers)
                for _ in range(requests):  # interleaved: load weighs on every row alike
                    for name, (path, headers) in targets.items():
                        samples[name].append(await _time(client, path, headers))
        return _report(samples, requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _seed_marketplace(app: object, work: Path, count: int = 12) -> str:
    """``count`` published marketplace listings (a version each); answers one plugin id."""
    from sqlalchemy import select

    from proofpix_plugins.models.accounts import User

    state = app.state  # type: ignore[attr-defined]
    async with session_scope(state.session_factory) as db:
        user_id = (await db.execute(select(User.id).limit(1))).scalar_one()
    dev = await developer(app, user_id, "benchpub")  # type: ignore[arg-type]
    out = work / "market"
    out.mkdir()
    for i in range(count):
        meta = counter_manifest(f"benchpub.bench-{i:02d}", "1.0.0",
                                description=f"Bench plugin {i} with **Markdown** text",
                                permissions=["storage", "http"],
                                network={"allow": ["api.example.com"]})
        await publish(app, out, meta, developer_id=dev)  # type: ignore[arg-type]
    return "benchpub.bench-00"


async def _api_token(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/auth/login", json={"email": "bench@example.com",
                                                          "password": PASSWORD})
    token: str = response.json()["access_token"]
    return token


def _report(samples: dict[str, list[float]], requests: int) -> int:
    load = os.getloadavg()[0]
    print(f"console pages, {requests} requests each, in process (httpx ASGI), "
          f"load average {load:.1f}")
    print(f"| {'what':<48} | {'p50 ms':>7} | {'p95 ms':>7} | goal |")
    print(f"|{'-' * 50}|{'-' * 9}|{'-' * 9}|------|")
    missed = []
    for name, values in samples.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        goal = ""
        if name.startswith("page:"):
            ok = p50 <= GOAL_MS
            goal = "✔" if ok else "✘"
            if not ok:
                missed.append(name)
        print(f"| {name:<48} | {p50:7.2f} | {p95:7.2f} | {goal:^4} |")
    if missed:
        print(f"MISSED p50 ≤ {GOAL_MS:g} ms: {', '.join(missed)}")
        return 1
    print(f"every page met p50 ≤ {GOAL_MS:g} ms")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.requests)))


if __name__ == "__main__":
    main()
