"""Several API processes on one data dir: `serve --workers N`, and separate servers side by side.

These run the commands of docs/deployment.md as real processes: `serve --workers 2` on the
embedded SQLite database (one port), and on PostgreSQL with Redis beside a second server on
another port sharing the data dir. They prove that every process serves, that installs racing
across processes leave exactly one winner whose plugin loads (the losers' clean-up used to
delete the winner's tree: fuzz review H5), that a starting process leaves a live sibling's
install alone, and that SIGTERM stops everything, leaving no process and no mount behind.
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import typer
from cryptography.fernet import Fernet

from proofpix_plugins.cli.serve import MAX_WORKERS, parse_workers
from proofpix_plugins.plugins.layout import OWNER_MARK
from tests.app.servers import (
    CLI,
    Server,
    base_env,
    create_admin,
    install,
    login,
    mounts_under,
    race_installs,
    run_cli,
    start_server,
    trees_of,
)
from tests.app.test_serve import data_root
from tests.fixtures.app import new_signing_pem
from tests.plugins.builders import COUNTER, build_ppx
from tests.plugins.builders import manifest as mk

pytestmark = pytest.mark.slow

__all__ = ["data_root"]  # the fixture, imported for this module's tests


def counter(out: Path, plugin_id: str) -> Path:
    meta = mk(plugin_id, type="utility", category="workflow", permissions=["storage"],
              hooks=[{"name": "custom:count", "handler": "count"}])
    return build_ppx(out, meta, COUNTER)


def assert_one_winner_that_loads(codes: list[int], data_dir: Path, plugin_id: str,
                                 bases: list[str], auth: dict[str, str]) -> None:
    assert sorted(codes) == [201] + [409] * (len(codes) - 1), codes
    [tree] = trees_of(data_dir, plugin_id)  # the losers left nothing, and took nothing
    assert (tree / "plugin.json").is_file()
    for base in bases:
        r = httpx.get(f"{base}/api/plugins/{plugin_id}", headers=auth, timeout=30)
        assert r.status_code == 200, r.text
    sha = r.json()["artifactSha256"]
    assert (data_dir / "blobs" / sha[:2] / sha[2:4] / sha).is_file()  # the artifact stayed too
    r = httpx.post(f"{bases[-1]}/api/plugins/{plugin_id}/load", headers=auth, timeout=60)
    assert r.status_code == 200, r.text


def each_process_answers(server: Server, pids: list[int]) -> None:
    """Health from each process: all others stopped, only that one can accept."""
    for pid in pids:
        others = [p for p in pids if p != pid]
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            r = httpx.get(f"{server.base}/api/health", timeout=10,
                          headers={"connection": "close"})
        finally:
            for other in others:
                os.kill(other, signal.SIGCONT)
        assert r.status_code == 200, (pid, r.text)


def test_serve_workers_on_sqlite_shares_one_port_and_one_install_wins(
    data_root: Path, servers: list[Server]
) -> None:
    data_dir = data_root / "data"
    env = base_env(data_dir)
    # A fresh data dir: the supervisor migrates the embedded database before its children start.
    server = start_server(data_root, env, "--workers", "2")
    servers.append(server)
    server.wait_healthy()
    pids = server.api_processes(2)
    each_process_answers(server, pids)

    create_admin(env, "ops@acme.dev")
    auth = login(server.base, "ops@acme.dev")
    for round_ in range(2):
        plugin_id = f"acme.race{round_}"
        codes = race_installs([server.base], auth, counter(data_root, plugin_id))
        assert_one_winner_that_loads(codes, data_dir, plugin_id, [server.base], auth)
    if os.geteuid() == 0:  # a loaded plugin's capped scratch dir
        assert mounts_under(data_dir)

    server.stop()
    assert mounts_under(data_dir) == []
    staging = data_dir / "plugins" / ".staging"
    assert list(staging.iterdir()) == []  # each process removed its own staging root


def test_two_servers_on_postgres_share_a_data_dir(
    data_root: Path, servers: list[Server], postgres_db_url: str, redis_url: str
) -> None:
    data_dir = data_root / "data"
    # docs/deployment.md's several-machines setup: production, explicit secrets (the generous
    # plugin-ops limit only because this test installs more than ten packages).
    env = base_env(data_dir, PROOFPIX_DATABASE_URL=postgres_db_url, PROOFPIX_REDIS_URL=redis_url,
                   PROOFPIX_ENV="production", PROOFPIX_JWT_SECRET=secrets.token_urlsafe(48),
                   PROOFPIX_CONFIG_KEY=Fernet.generate_key().decode(),
                   PROOFPIX_SIGNING_KEY=new_signing_pem(),
                   PROOFPIX_RATE_LIMIT_PLUGIN_OPS="1000/15minutes")
    run_cli(["db", "upgrade"], env)
    create_admin(env, "ops@acme.dev")
    a = start_server(data_root, env, "--workers", "2")
    servers.append(a)
    a.wait_healthy()
    a_pids = a.api_processes(2)
    auth = login(a.base, "ops@acme.dev")

    r = install(a.base, auth, counter(data_root, "acme.first"))
    assert r.status_code == 201, r.text
    [first] = trees_of(data_dir, "acme.first")
    org_dir = first.parent.parent
    # A's install of a plugin is in flight in one of its processes: its staging dir holds an
    # extraction and a published tree awaits its rows (no row references it yet).
    owner = next(p.name for p in (data_dir / "plugins" / ".staging").iterdir()
                 if int(p.name.split("-")[0]) in a_pids)
    in_flight_staging = data_dir / "plugins" / ".staging" / owner / "0123abcd"
    (in_flight_staging / "plugin").mkdir(parents=True)
    in_flight_tree = org_dir / "acme.inflight" / f"1.0.0-0123456789ab{OWNER_MARK}{owner}-0badf00d"
    in_flight_tree.mkdir(parents=True)
    (in_flight_tree / "plugin.json").write_text("{}")

    # B starts (and sweeps leftovers) while A keeps installing.
    packages = [counter(data_root, f"acme.busy{i:02d}") for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        during = [pool.submit(install, a.base, auth, ppx) for ppx in packages]
        b = start_server(data_root, env)
        servers.append(b)
        b.wait_healthy()
        codes = [f.result().status_code for f in during]
    assert codes == [201] * len(packages), codes
    assert (in_flight_staging / "plugin").is_dir()
    assert (in_flight_tree / "plugin.json").is_file()
    for i in range(len(packages)):  # every install of A survived B's start: B loads it
        r = httpx.post(f"{b.base}/api/plugins/acme.busy{i:02d}/load", headers=auth, timeout=60)
        assert r.status_code == 200, r.text

    for round_ in range(3):
        plugin_id = f"acme.race{round_}"
        codes = race_installs([a.base, b.base], auth, counter(data_root, plugin_id))
        assert_one_winner_that_loads(codes, data_dir, plugin_id, [a.base, b.base], auth)

    health = httpx.get(f"{b.base}/api/health", timeout=10).json()
    assert health["database"] == "ok"
    assert health["redis"] == "ok"
    b.stop()
    a.stop()
    assert mounts_under(data_dir) == []


def test_the_api_processes_stop_when_the_supervisor_is_killed(
    data_root: Path, servers: list[Server]
) -> None:
    data_dir = data_root / "data"
    server = start_server(data_root, base_env(data_dir), "--workers", "2")
    servers.append(server)
    server.wait_healthy()
    server.api_processes(2)
    server.remember_descendants()

    server.proc.kill()  # an OOM kill or crash of the supervisor
    server.proc.wait()
    deadline = time.monotonic() + 60
    while (left := server.survivors()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], left
    assert mounts_under(data_dir) == []


def test_workers_is_a_count_or_auto() -> None:
    assert parse_workers("auto") == len(os.sched_getaffinity(0))
    assert parse_workers("3") == 3
    for bad in ("0", "-1", "lots", str(MAX_WORKERS + 1)):
        with pytest.raises(typer.BadParameter):
            parse_workers(bad)


def test_serve_refuses_a_bad_worker_count_before_listening(data_root: Path) -> None:
    done = subprocess.run([*CLI, "serve", "--workers", "none"], env=base_env(data_root / "d"),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "auto" in done.stderr
