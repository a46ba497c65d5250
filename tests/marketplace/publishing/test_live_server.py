"""Against real `proofpix-plugins serve` processes: the publication log verifies over HTTP with
the `marketplace verify-log` CLI, a row edited in the database is caught, and a server killed
with SIGKILL mid-scan finishes the submission after a restart, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.api_keys import display_prefix, key_digest, new_key
from proofpix_plugins.models.accounts import User
from proofpix_plugins.models.jobs import Job
from proofpix_plugins.models.marketplace import (
    ApiKey,
    Developer,
    MarketplaceVersion,
    PublicationLogEntry,
    Submission,
)
from proofpix_plugins.packages.signing import public_key_from_private
from tests.app.servers import CLI, Server, base_env, create_admin, kill_leftovers, start_server
from tests.app.test_serve import data_root
from tests.fixtures.app import new_signing_pem
from tests.plugins.builders import build_ppx, manifest
from tests.waiting import eventually_sync

pytestmark = pytest.mark.slow

__all__ = ["data_root"]

CLEAN = "def on_upload(event, ctx):\n    return {}\n"
HOOKS = [{"name": "file:uploaded", "handler": "on_upload"}]


async def developer(
    session_factory: async_sessionmaker[AsyncSession], env: dict[str, str], namespace: str
) -> str:
    """A verified developer on the server's database; returns its API key."""
    email = f"{namespace}@example.com"
    create_admin(env, email)
    key = new_key()
    async with session_scope(session_factory) as session:
        user_id = (await session.execute(select(User.id).where(User.email == email))).scalar_one()
        dev_id = uuid.uuid4()
        session.add(Developer(id=dev_id, user_id=user_id, namespace=namespace,
                              skeleton=namespace, verified=True))
        await session.flush()
        session.add(ApiKey(developer_id=dev_id, prefix=display_prefix(key),
                           key_hash=key_digest(key), scopes=["publish", "read"]))
    return key


def submit(base: str, key: str, ppx: Path) -> str:
    r = httpx.post(f"{base}/api/developers/plugins", headers={"X-API-Key": key}, timeout=120,
                   files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def status(base: str, key: str, sid: str) -> str:
    r = httpx.get(f"{base}/api/developers/submissions/{sid}", headers={"X-API-Key": key},
                  timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def verify_log(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "marketplace", "verify-log", *args], capture_output=True,
                          text=True, timeout=120, check=False)


async def test_the_log_verifies_over_http_and_an_edited_row_is_caught(
    data_root: Path, servers: list[Server], db_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env = base_env(data_root / "data", PROOFPIX_DATABASE_URL=db_url,
                   PROOFPIX_JOBS_POLL_SECONDS="0.1")
    server = start_server(data_root, env)
    servers.append(server)
    server.wait_healthy()
    key = await developer(session_factory, env, "acme")
    for version in ("1.0.0", "1.0.1"):
        ppx = build_ppx(data_root, manifest("acme.tool", version, hooks=HOOKS), CLEAN)
        sid = submit(server.base, key, ppx)
        def published(sid: str = sid) -> bool:
            return status(server.base, key, sid) == "published"

        eventually_sync(published, what=f"{version} published", seconds=120, interval=0.2)

    ok = verify_log(server.base, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    result = json.loads(ok.stdout)
    assert result["valid"] is True
    assert result["entries"] == 2
    assert result["published"] == 2
    pem = data_root / "key.pem"
    async with httpx.AsyncClient(base_url=server.base) as client:
        r = await client.get("/api/plugins/marketplace/public-key",
                             headers={"Accept": "application/x-pem-file"})
    assert r.headers["content-type"].startswith("application/x-pem-file")
    pem.write_bytes(r.content)
    assert verify_log(server.base, "--public-key", str(pem)).returncode == 0

    # Someone with database access rewrites history: entry 1 now names another artifact.
    async with session_scope(session_factory) as session:
        await session.execute(update(PublicationLogEntry).where(PublicationLogEntry.seq == 1)
                              .values(version="0.0.1"))
    bad = verify_log(server.base)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "entry 1" in bad.stderr
    assert "entryHash" in bad.stderr

    # A key that is not the marketplace's: every signature fails, exit 1.
    other = data_root / "other.pem"
    other.write_bytes(public_key_from_private(new_signing_pem().encode()))
    assert verify_log(server.base, "--public-key", str(other)).returncode == 1
    # Unreachable server, unusable input: exit 2.
    assert verify_log("http://127.0.0.1:9").returncode == 2
    assert verify_log("not-a-url").returncode == 2
    assert verify_log(server.base, "--public-key", str(data_root / "missing.pem")).returncode == 2
    server.stop()


def big_package(out: Path, version: str, modules: int = 40) -> Path:
    """A clean package whose scan takes seconds (bandit over thousands of functions)."""
    body = "\n".join(f"def f{i}(x):\n    y = x + {i}\n    return [y * k for k in range(3)]\n"
                     for i in range(300))
    extra = {f"plugin/m{j}.py": body for j in range(modules)}
    return build_ppx(out, manifest("acme.big", version, hooks=HOOKS), CLEAN, extra=extra)


async def test_a_server_killed_mid_scan_finishes_the_submission_once_after_a_restart(
    data_root: Path, servers: list[Server], db_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env = base_env(data_root / "data", PROOFPIX_DATABASE_URL=db_url,
                   PROOFPIX_JOBS_POLL_SECONDS="0.1", PROOFPIX_JOBS_LEASE_SECONDS="2")
    first = start_server(data_root, env)
    servers.append(first)
    first.wait_healthy()
    key = await developer(session_factory, env, "acme")
    sid = submit(first.base, key, big_package(data_root, "1.0.0"))
    eventually_sync(lambda: status(first.base, key, sid) == "scanning", what="scanning",
                    seconds=60, interval=0.05)
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    kill_leftovers(first)

    second = start_server(data_root, env)
    servers.append(second)
    second.wait_healthy()
    eventually_sync(lambda: status(second.base, key, sid) == "published", what="published",
                    seconds=240, interval=0.2)
    async with session_scope(session_factory) as session:
        versions = (await session.execute(
            select(func.count()).select_from(MarketplaceVersion))).scalar_one()
        entries = (await session.execute(
            select(func.count()).select_from(PublicationLogEntry))).scalar_one()
        submission = await session.get(Submission, uuid.UUID(sid))
        assert submission is not None
        assert submission.job_id is not None
        attempts = (await session.execute(
            select(Job.attempts).where(Job.id == submission.job_id))).scalar_one()
    assert versions == 1
    assert entries == 1
    assert attempts >= 2  # the killed attempt, then the finishing one
    ok = verify_log(second.base)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    second.stop()
