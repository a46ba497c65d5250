"""Install latency of a ~100 KB plugin through the API, scan included (SPEC §11: p50 ≤ 150 ms).

    .venv/bin/python bench/install.py [-n 50] [--warmup 3] [--size-kb 100] [--transport http]
                                      [--check]

Starts the real app (``create_app(platform=True)``, SQLite and a data dir in a fresh temporary
directory) in this process, behind uvicorn on 127.0.0.1 run as a task on the client's own event
loop (``--transport asgi``: httpx's ASGITransport instead, no sockets), creates an enterprise
admin, and installs N distinct plugins (``acme.bench-0000`` …, so never a 409) of about
``--size-kb`` KB each: ~20 files of realistic, finding-free Python plus one photo asset, as
authors ship them. Each install is timed from the client: request sent → ``201`` received.
Baselines measured in the same run:

- ``scan_package`` alone on twin packages (same shape, other sources: what the scanner costs by
  itself, with no help from any cache);
- the install of a 1 KB plugin (manifest and one module: the fixed cost of an install);
- an authenticated ``GET /api/plugins`` (what any request costs: HTTP, auth, one query).

The rows are interleaved per iteration so that load from elsewhere weighs on all of them alike;
a second table splits the scan's time by check.

Prints one comparison table (with ``--check``, exits 1 when the install p50 misses the goal).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from PIL import Image
from pydantic import SecretStr

from _stats import percentile
from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.accounts.service import AccountService
from proofpix_plugins.app import create_app
from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Role, Tier
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.scanning import scan_package

GOAL_P50_MS = 150.0
PASSWORD = secrets.token_urlsafe(24)
GENEROUS = "1000000/minute"
PYTHON_VERSION = ".".join(str(v) for v in sys.version_info[:3])


# -- packages --------------------------------------------------------------------------------

_TOPICS = ["exposure", "lens", "gps", "timestamp", "camera", "colour", "orientation",
           "thumbnail", "copyright", "keywords", "rating", "dimensions", "software", "flash",
           "focus", "iso", "aperture", "whitebalance"]

_MODULE = '''
"""Normalising the {topic} fields of photo metadata before {plugin} reports them."""

from __future__ import annotations

from dataclasses import dataclass, field

UNITS = {{"{topic}": "{unit}", "scale": {scale}}}
SOURCE = "{plugin}"


@dataclass(frozen=True)
class {cls}Reading:
    """One {topic} value as a camera reported it, with where it came from."""

    name: str
    value: float
    unit: str = "{unit}"
    sources: tuple[str, ...] = field(default_factory=tuple)

    def scaled(self, factor: float) -> float:
        return round(self.value * factor, {digits})

    def describe(self) -> str:
        origin = ", ".join(self.sources) or "unknown"
        return f"{{self.name}}={{self.value:.{digits}f}} {{self.unit}} (from {{origin}})"
'''

_FUNCTION = '''

def normalise_{topic}_{n}(record: dict[str, object]) -> dict[str, object]:
    """Lower-case keys, drop empty values and round floats to {digits} places."""
    out: dict[str, object] = {{}}
    for key, value in record.items():
        if value in (None, "", [], {{}}):
            continue
        if isinstance(value, float):
            value = round(value, {digits})
        out[key.strip().lower()] = value
    return out


def summarise_{topic}_{n}(readings: list[{cls}Reading]) -> dict[str, float]:
    """Minimum, maximum and mean of the readings, or an empty summary."""
    values = [r.value for r in readings if r.unit == UNITS["{topic}"]]
    if not values:
        return {{}}
    return {{"min": min(values), "max": max(values), "mean": sum(values) / len(values)}}
'''

_ENTRY = '''
"""Reports normalised photo metadata; a benchmark plugin shaped like a real analyzer."""

from proofpix_sdk import HookContext, Plugin

from plugin.exposure import normalise_exposure_0

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    return {{"fields": normalise_exposure_0(dict(event.get("exif") or {{}}))}}
'''


_TINY = '''
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:ping")
def ping(event: dict, ctx: HookContext) -> dict:
    return {"ok": True}
'''


def _module_source(plugin_id: str, topic: str, index: int, target_bytes: int) -> str:
    params = {"plugin": plugin_id, "topic": topic, "cls": topic.capitalize(), "unit": f"u{index}",
              "scale": index + 1, "digits": index % 5 + 1}
    parts = [textwrap.dedent(_MODULE).format(**params)]
    n = 0
    while sum(map(len, parts)) < target_bytes:
        parts.append(textwrap.dedent(_FUNCTION).format(n=n, **params))
        n += 1
    return "".join(parts)


def _photo_asset(target_bytes: int, seed: int) -> bytes:
    """A noisy JPEG of about ``target_bytes``: photos barely compress, like real assets."""
    rng = random.Random(seed)
    side = 64
    data = b""
    while True:
        img = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        data = buf.getvalue()
        if len(data) >= target_bytes or side > 2048:
            return data
        side = int(side * max(1.05, (target_bytes / len(data)) ** 0.5))


def build_package(out_dir: Path, plugin_id: str, size_kb: int) -> Path:
    """22 files: manifest, README, an entry module, 18 helper modules and one photo asset."""
    src = out_dir / f"src-{plugin_id}"
    (src / "plugin").mkdir(parents=True)
    (src / "assets").mkdir()
    manifest = {
        "id": plugin_id, "name": f"Benchmark {plugin_id}", "version": "1.0.0",
        "type": "analyzer", "category": "metadata", "entry": "plugin",
        "description": "normalises photo metadata (install benchmark)",
        "hooks": [{"name": "file:uploaded", "handler": "on_upload"}], "permissions": [],
    }
    (src / "plugin.json").write_text(json.dumps(manifest, indent=2))
    (src / "README.md").write_text(f"# {plugin_id}\n\nA benchmark plugin.\n")
    (src / "plugin" / "__init__.py").write_text(textwrap.dedent(_ENTRY).format())
    # About size_kb of Python source (it compresses several times over) and one photo that
    # does not compress, sized so that the archive itself comes to about size_kb.
    per_module = size_kb * 1024 // len(_TOPICS)
    packed = 0
    for i, topic in enumerate(_TOPICS):
        # Every package's sources differ (as different plugins' do): no scan cache can help.
        source = _module_source(plugin_id, topic, i, per_module)
        (src / "plugin" / f"{topic}.py").write_text(source)
        packed += len(zlib.compress(source.encode()))
    asset = max(4096, size_kb * 1024 - packed)
    (src / "assets" / "sample.jpg").write_bytes(_photo_asset(asset, zlib.crc32(plugin_id.encode())))
    out = out_dir / f"{plugin_id}.ppx"
    write_archive(src, out)
    shutil.rmtree(src)
    return out


def build_tiny_package(out_dir: Path, plugin_id: str) -> Path:
    """The smallest plausible plugin (manifest and one module): the fixed cost of an install."""
    src = out_dir / f"src-{plugin_id}"
    (src / "plugin").mkdir(parents=True)
    manifest = {
        "id": plugin_id, "name": f"Benchmark {plugin_id}", "version": "1.0.0",
        "type": "utility", "category": "other", "entry": "plugin",
        "hooks": [{"name": "custom:ping", "handler": "ping"}], "permissions": [],
    }
    (src / "plugin.json").write_text(json.dumps(manifest))
    (src / "plugin" / "__init__.py").write_text(textwrap.dedent(_TINY))
    out = out_dir / f"{plugin_id}.ppx"
    write_archive(src, out)
    shutil.rmtree(src)
    return out


# -- the app ---------------------------------------------------------------------------------

@dataclass
class Admin:
    headers: dict[str, str]


async def enterprise_admin(app: FastAPI) -> Admin:
    state = app.state
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    async with session_scope(state.session_factory) as session:
        svc = AccountService(session, state.passwords, state.access_tokens,
                             state.settings.refresh_token_ttl_seconds)
        account = await svc.create_account(
            email=email, password=PASSWORD, name="Bench Admin", org_name="bench",
            tier=Tier.enterprise, role=Role.admin, platform_admin=False,
        )
        _, pair = await svc.login(email=email, password=PASSWORD,
                                  organization_id=account.organization.id)
    return Admin(headers={"Authorization": f"Bearer {pair.access_token}"})


def bench_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        jwt_secret=SecretStr(uuid.uuid4().hex * 2),
        # The benchmark's own traffic must never meet a rate limit.
        rate_limit_default=GENEROUS, rate_limit_auth=GENEROUS,
        rate_limit_plugin_ops=GENEROUS, rate_limit_hooks=GENEROUS,
        rate_limit_uploads=GENEROUS, log_level="WARNING",
    )


@asynccontextmanager
async def running(settings: Settings, transport: str) -> AsyncIterator[tuple[FastAPI,
                                                                             httpx.AsyncClient]]:
    app = create_app(settings, platform=True)
    async with app.router.lifespan_context(app):
        if transport == "asgi":
            asgi = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=asgi, base_url="http://bench") as client:
                yield app, client
            return
        # IPPROTO_TCP explicitly: asyncio turns Nagle off only for sockets that say TCP, and
        # with Nagle on every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning",
                                               log_config=None, access_log=False))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}",
                                         timeout=60) as client:
                yield app, client
        finally:
            server.should_exit = True
            await task
            sock.close()


# -- measuring -------------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)


async def timed_ms(op: Awaitable[None]) -> float:
    started = time.perf_counter()
    await op
    return (time.perf_counter() - started) * 1000


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ppx-bench-", dir="/tmp"))
    # Plugin uids must traverse the data dir (tests/plugins/conftest.py does the same).
    os.chmod(tmp, 0o711)  # noqa: S103 - traverse only, never list
    try:
        pkgs = tmp / "packages"
        pkgs.mkdir()
        total = args.warmup + args.iterations
        ids = [f"acme.bench-{i:04d}" for i in range(total)]
        ppx = [build_package(pkgs, pid, args.size_kb) for pid in ids]
        # The scan baseline scans twins (same shape, other sources), never a package that an
        # install has just scanned: a scanner may cache results by content.
        twins = [build_package(pkgs, f"acme.twin-{i:04d}", args.size_kb) for i in range(total)]
        bodies = [p.read_bytes() for p in ppx]
        with zipfile.ZipFile(ppx[0]) as zf:
            files = len(zf.infolist())
            unpacked = sum(i.file_size for i in zf.infolist())

        tiny = [build_tiny_package(pkgs, f"acme.tiny-{i:04d}") for i in range(total)]
        tiny_bodies = [p.read_bytes() for p in tiny]

        per_check: dict[str, list[float]] = {}

        async def scan(i: int) -> None:
            # In a thread, as the install path runs it.
            report = await asyncio.to_thread(scan_package, twins[i],
                                             platform_version=PLATFORM_VERSION,
                                             python_version=PYTHON_VERSION)
            if report.rejected:
                raise SystemExit(f"the benchmark package was rejected: {report.to_json()}")
            if i >= args.warmup:
                spent = 0.0
                for run in report.checks:
                    per_check.setdefault(run.id, []).append(run.duration_ms)
                    spent += run.duration_ms
                # What no check accounts for: reading the archive and parsing the sources.
                per_check.setdefault("(read and parse)", []).append(report.duration_ms - spent)

        async with running(bench_settings(tmp / "data"), args.transport) as (app, client):
            admin = await enterprise_admin(app)

            async def install(name: str, body: bytes) -> None:
                r = await client.post(
                    "/api/plugins/install", headers=admin.headers,
                    files={"file": (name, body, "application/zip")},
                )
                if r.status_code != 201:
                    raise SystemExit(f"install {name}: {r.status_code} {r.text[:2000]}")

            async def listing() -> None:
                r = await client.get("/api/plugins?limit=20", headers=admin.headers)
                if r.status_code != 200:
                    raise SystemExit(f"GET /api/plugins: {r.status_code} {r.text[:500]}")

            samples: dict[str, list[float]] = {k: [] for k in ("install", "scan", "tiny", "get")}
            # Interleaved, so that load from elsewhere on the machine weighs on every row alike.
            for i in range(total):
                got = {
                    "install": await timed_ms(install(ppx[i].name, bodies[i])),
                    "scan": await timed_ms(scan(i)),
                    "tiny": await timed_ms(install(tiny[i].name, tiny_bodies[i])),
                    "get": await timed_ms(listing()),
                }
                if i >= args.warmup:
                    for key, ms in got.items():
                        samples[key].append(ms)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        Row("install via API (scan included)", samples["install"]),
        Row("scan_package alone, twin package", samples["scan"]),
        Row("install via API, 1 KB plugin", samples["tiny"]),
        Row("authenticated GET /api/plugins", samples["get"]),
    ]
    print(f"\nplugin install: N={args.iterations} (+{args.warmup} warm-up), "
          f"transport={args.transport}, package {len(bodies[0]) / 1024:.0f} KB "
          f"({files} files, {unpacked / 1024:.0f} KB unpacked), "
          f"Python {PYTHON_VERSION}, {os.cpu_count()} CPUs\n")
    head = f"{'what':<36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'p50 / install':>14}"
    print(head)
    print("-" * len(head))
    base = rows[0].p50
    for row in rows:
        print(f"{row.name:<36} {row.p50:>8.1f} {percentile(row.samples_ms, 0.95):>8.1f} "
              f"{statistics.fmean(row.samples_ms):>8.1f} {row.p50 / base:>13.2f}x")
    print("\nwhere scan_package spends its time (mean ms per package, largest first):")
    means = sorted(((statistics.fmean(v), k) for k, v in per_check.items()), reverse=True)
    print("  " + ", ".join(f"{k} {ms:.1f}" for ms, k in means if ms >= 0.5))
    met = base <= GOAL_P50_MS
    print(f"\ngoal: install p50 <= {GOAL_P50_MS:.0f} ms -> {'met' if met else 'MISSED'} "
          f"({base:.1f} ms)")
    return 1 if args.check and not met else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--iterations", type=int, default=50,
                        help="timed installs (and baseline samples); default 50")
    parser.add_argument("--warmup", type=int, default=3, help="untimed installs first")
    parser.add_argument("--size-kb", type=int, default=100, help="package size target in KB")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the install p50 misses the goal")
    parser.add_argument("--transport", choices=("http", "asgi"), default="http",
                        help="http: uvicorn on 127.0.0.1 (default); asgi: in-process transport")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0 or not 10 <= args.size_kb <= 50 * 1024:
        parser.error("need --iterations >= 1, --warmup >= 0, 10 <= --size-kb <= 51200")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
