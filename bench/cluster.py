"""Many API processes: hook calls per second through HTTP, and how fast a change converges.

    .venv/bin/python bench/cluster.py [--seconds 5] [--concurrency 32] [--trials 60]
                                      [--database-url URL --redis-url URL] [--check]

Runs the real ``proofpix-plugins serve`` as subprocesses on 127.0.0.1, each on a fresh data dir
(SQLite unless ``--database-url``, which must then be an empty, migrated database of its own),
with one trivial plugin (``custom:ping`` returns its config's ``greeting``) installed and
loaded.

- **Throughput**: ``serve --workers N`` for N = 1, 2 and ``auto``. One asyncio client in this
  process keeps ``--concurrency`` keep-alive connections busy for ``--seconds`` with
  ``POST /api/plugins/hooks/custom:ping`` (a minimal HTTP/1.1 client on raw streams: httpx
  would be the bottleneck on two cores). Reports calls/s and the per-call latency, beside an
  authenticated ``GET`` of the plugin on ``--workers 1`` (what any request costs, no hook).
- **Convergence** (SPEC §11: a state change in effect in every process, p99 ≤ 1 s): two
  ``serve`` on one data dir and two ports, A and B. Each trial PUTs a new ``greeting`` through
  A and polls B (back to back, keep-alive) until its hook result shows it; the time runs from
  sending the PUT to B's first answer with the new value. Without ``--redis-url`` the only
  channel is the state clock's poll (``PROOFPIX_PLUGIN_RECONCILE_SECONDS``, 0.25 s); with it,
  the Redis announcement usually gets there first.

Prints one table, the machine's load average before and after, and (``--check``) exits 1 when
the convergence p99 misses 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from _stats import percentile
from proofpix_plugins.packages.pack import write_archive

CLI = [sys.executable, "-m", "proofpix_plugins.cli.main"]
PLUGIN = "acme.ping"
PASSWORD = secrets.token_urlsafe(16)
GOAL_P99_S = 1.0
SOURCE = '''
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:ping")
def ping(event: dict, ctx: HookContext) -> dict:
    return {"greeting": ctx.config.get("greeting")}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_plugin(out: Path) -> Path:
    src = out / "src"
    (src / "plugin").mkdir(parents=True)
    (src / "plugin.json").write_text(json.dumps({
        "id": PLUGIN, "name": "Ping", "version": "1.0.0", "type": "utility",
        "category": "workflow", "description": "cluster benchmark plugin", "entry": "plugin",
        "hooks": [{"name": "custom:ping", "handler": "ping"}], "permissions": [],
        "config_schema": {"type": "object", "properties": {
            "greeting": {"type": "string", "default": "hello"}}},
    }))
    (src / "plugin" / "__init__.py").write_text(SOURCE)
    ppx = out / "ping.ppx"
    write_archive(src, ppx)
    return ppx


@dataclass
class Cluster:
    """A data dir (and its settings) that ``serve`` processes share."""

    root: Path
    settings: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")}
        env.update(self.settings)
        return env

    def cli(self, *args: str) -> None:
        subprocess.run([*CLI, *args], env=self.env, check=True, capture_output=True,
                       timeout=180)

    def serve(self, *args: str) -> str:
        port = free_port()
        log = (self.root / f"serve-{port}.log").open("wb")
        self.procs.append(subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"serve {args} never answered; see {log.name}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def new_cluster(tmp: Path, name: str, args: argparse.Namespace) -> Cluster:
    root = tmp / name
    root.mkdir()
    settings = {
        "PROOFPIX_DATA_DIR": str(root / "data"),
        "PROOFPIX_SCAN_BANDIT_WORKERS": "0",
        # The benchmark measures the platform, not the rate limiter's refusals.
        "PROOFPIX_RATE_LIMIT_HOOKS": "100000000/minute",
        "PROOFPIX_RATE_LIMIT_PLUGIN_OPS": "100000/minute",
        "PROOFPIX_RATE_LIMIT_DEFAULT": "100000/minute",
    }
    if args.database_url:
        settings["PROOFPIX_DATABASE_URL"] = args.database_url
    if args.redis_url:
        settings["PROOFPIX_REDIS_URL"] = args.redis_url
    cluster = Cluster(root, settings)
    cluster.cli("db", "upgrade")
    return cluster


def set_up(cluster: Cluster, base: str, ppx: Path, email: str) -> dict[str, str]:
    cluster.cli("admin", "create-user", "--email", email, "--password", PASSWORD, "--org",
                "Bench", "--tier", "enterprise", "--role", "owner")
    r = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": PASSWORD},
                   timeout=30)
    r.raise_for_status()
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = httpx.post(f"{base}/api/plugins/install", headers=auth, timeout=120,
                   files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
    r.raise_for_status()
    httpx.post(f"{base}/api/plugins/{PLUGIN}/load", headers=auth, timeout=60).raise_for_status()
    return auth


# -- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------

class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base: str) -> Connection:
        host, port = base.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def request(method: str, base: str, path: str, auth: dict[str, str],
            body: dict[str, Any] | None = None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    host = base.removeprefix("http://")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}",
             f"Authorization: {auth['Authorization']}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", "", ""]
    return "\r\n".join(lines).encode() + payload


async def throughput(base: str, auth: dict[str, str], seconds: float,
                     concurrency: int, call: bytes | None = None) -> tuple[float, list[float]]:
    call = call or request("POST", base, "/api/plugins/hooks/custom:ping", auth, {"data": {}})
    latencies: list[float] = []
    conns = [await Connection.open(base) for _ in range(concurrency)]
    for conn in conns:  # warm every connection (and the process behind it) once
        status, _ = await conn.send(call)
        assert status == 200, status
    stop = time.perf_counter() + seconds

    async def drive(conn: Connection) -> None:
        while (now := time.perf_counter()) < stop:
            status, body = await conn.send(call)
            if status != 200:
                raise RuntimeError(f"hook call answered {status}: {body[:300]!r}")
            latencies.append(time.perf_counter() - now)

    started = time.perf_counter()
    await asyncio.gather(*(drive(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return len(latencies) / elapsed, latencies


async def convergence(a: str, b: str, auth: dict[str, str], trials: int) -> list[float]:
    conn_a, conn_b = await Connection.open(a), await Connection.open(b)
    probe = request("POST", b, "/api/plugins/hooks/custom:ping", auth, {"data": {}})
    samples: list[float] = []
    try:
        for i in range(trials):
            value = f"v{i}-{secrets.token_hex(4)}"
            put = request("PUT", a, f"/api/plugins/{PLUGIN}/config", auth,
                          {"values": {"greeting": value}})
            started = time.perf_counter()
            status, body = await conn_a.send(put)
            assert status == 200, body
            while True:
                status, body = await conn_b.send(probe)
                assert status == 200, body
                results = json.loads(body)["results"]
                if results and (results[0].get("result") or {}).get("greeting") == value:
                    break
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"B never showed {value}: {body[:300]!r}")
            samples.append(time.perf_counter() - started)
            # Changes arrive at random moments relative to B's poll, as real ones do.
            await asyncio.sleep(0.05 + (i * 0.037) % 0.25)
    finally:
        conn_a.close()
        conn_b.close()
    return samples


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def measure_convergence(tmp: Path, ppx: Path,
                              args: argparse.Namespace) -> tuple[str, str, str, str, str]:
    cluster = new_cluster(tmp, "convergence", args)
    try:
        a = cluster.serve()
        b = cluster.serve()
        auth = set_up(cluster, a, ppx, "ops@bench.dev")
        samples = await convergence(a, b, auth, args.trials)
    finally:
        cluster.stop()
    channel = "Redis announcement + clock poll" if args.redis_url else "clock poll only"
    store = "PostgreSQL" if args.database_url else "SQLite"
    return (f"config change via A in effect in B ({store}, {channel})",
            f"goal p99 ≤ {GOAL_P99_S * 1000:.0f} ms", fmt_ms(percentile(samples, 0.5)),
            fmt_ms(percentile(samples, 0.99)),
            f"{len(samples)} trials, max {fmt_ms(max(samples))}")


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ppx-cluster-", dir="/tmp"))
    os.chmod(tmp, 0o711)  # noqa: S103 - plugin uids traverse to their trees, never list
    load_before = os.getloadavg()
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        ppx = build_plugin(tmp)
        if not args.convergence_only:
            for n, workers in enumerate(["1", "2", "auto"]):
                cluster = new_cluster(tmp, f"workers-{workers}", args)
                try:
                    base = cluster.serve("--workers", workers)
                    auth = set_up(cluster, base, ppx, f"ops{n}@bench.dev")
                    rate, lat = await throughput(base, auth, args.seconds, args.concurrency)
                    if workers == "1":
                        get = request("GET", base, f"/api/plugins/{PLUGIN}", auth)
                        base_rate, base_lat = await throughput(base, auth, args.seconds,
                                                               args.concurrency, get)
                finally:
                    cluster.stop()
                if workers == "1":
                    rows.append(("baseline: authenticated GET of the plugin, --workers 1",
                                 f"{base_rate:,.0f} req/s", fmt_ms(percentile(base_lat, 0.5)),
                                 fmt_ms(percentile(base_lat, 0.99)), f"{len(base_lat):,} reqs"))
                rows.append((f"hook calls over HTTP, serve --workers {workers}",
                             f"{rate:,.0f} calls/s", fmt_ms(percentile(lat, 0.5)),
                             fmt_ms(percentile(lat, 0.99)), f"{len(lat):,} calls"))
        converged = await measure_convergence(tmp, ppx, args)
        rows.append(converged)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows, load_before, os.getloadavg(), args)
    p99_ms = float(converged[3].removesuffix(" ms"))
    return 1 if args.check and p99_ms > GOAL_P99_S * 1000 else 0


def print_table(rows: list[tuple[str, str, str, str, str]], before: tuple[float, ...],
                after: tuple[float, ...], args: argparse.Namespace) -> None:
    head = ("what", "rate", "p50", "p99", "n")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"cores {len(os.sched_getaffinity(0))}, concurrency {args.concurrency}, "
          f"{args.seconds:g} s per throughput row")
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{v:.2f}" for v in before)
          + "; after: " + ", ".join(f"{v:.2f}" for v in after))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput row")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--trials", type=int, default=60, help="convergence trials (≥ 50)")
    parser.add_argument("--database-url", help="an empty database, migrated here (else SQLite)")
    parser.add_argument("--redis-url", help="Redis for the hub's announcements")
    parser.add_argument("--convergence-only", action="store_true",
                        help="skip the throughput rows (required with --database-url)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the convergence p99 misses 1 s")
    args = parser.parse_args(argv)
    if args.database_url and not args.convergence_only:
        # Each throughput row starts on a fresh data dir; one database cannot be fresh thrice.
        parser.error("--database-url measures convergence only: add --convergence-only")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
