"""The kill switch with two real API processes sharing PostgreSQL and Redis (issue #13).

A plugin installed from the marketplace and loaded through server A answers hooks in A and B.
A platform admin suspends it through A: within 2 s neither process routes to it any more, every
installation is `disabled` with the reason, a new install is refused and a load is refused.
Lifting the suspension through B lets the admin load it again, and A follows.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from proofpix_plugins.db import create_engine_for_url, create_session_factory, session_scope
from proofpix_plugins.models.accounts import User
from proofpix_plugins.models.marketplace import Developer, MarketplaceListing, MarketplaceVersion
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.storage.blobstore import FileSystemBlobStore
from tests.app.servers import Server, create_admin, login, run_cli, start_server
from tests.app.test_convergence import (
    PLUGIN,
    Results,
    Via,
    answers,
    generous_limits,
    ok,
    probe_ppx,
    servers,
)
from tests.app.test_serve import data_root
from tests.fixtures.app import new_signing_pem

pytestmark = pytest.mark.slow

__all__ = ["data_root", "servers"]  # fixtures, imported for this module's tests

#: The issue's bound for a suspension to reach every process.
KILL_DEADLINE = 2.0


async def _publish(db_url: str, blob_root: Path, package: bytes, key: PlatformKey,
                   email: str) -> None:
    """The marketplace rows the publishing pipeline would write for ``package``."""
    ref = await FileSystemBlobStore(blob_root).put_bytes(package)
    engine = create_engine_for_url(db_url)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            user_id: uuid.UUID = (await session.execute(
                select(User.id).where(User.email == email))).scalar_one()
            dev = Developer(user_id=user_id, namespace="acme", skeleton="acme")
            session.add(dev)
            await session.flush()
            listing = MarketplaceListing(plugin_id=PLUGIN, developer_id=dev.id, name="Probe",
                                         type="utility", category="workflow",
                                         latest_version="1.0.0")
            session.add(listing)
            await session.flush()
            session.add(MarketplaceVersion(
                listing_id=listing.id, version="1.0.0", artifact_sha256=ref.sha256,
                size_bytes=ref.size, signature=key.sign_artifact(ref.sha256),
                signing_key_id=key.key_id, permissions=["storage"]))
    finally:
        await engine.dispose()


def _silent_within(vias: list[Via], seconds: float) -> float:
    started = time.monotonic()
    pending = list(vias)
    while pending and time.monotonic() - started < seconds:
        # Gone from the bus, or reported skipped (disabled) while the process converges.
        pending = [v for v in pending
                   if not all(r["status"] == "skipped" for r in v.probe())]
        time.sleep(0.02)
    assert not pending, f"still answering after {seconds} s: {[v.base for v in pending]}"
    return time.monotonic() - started


def test_suspend_stops_the_plugin_in_every_process_within_two_seconds(
    data_root: Path, servers: list[Server], postgres_db_url: str, redis_url: str
) -> None:
    data_dir = data_root / "data"
    pem = new_signing_pem()
    env = generous_limits(
        data_dir, PROOFPIX_DATABASE_URL=postgres_db_url, PROOFPIX_REDIS_URL=redis_url,
        PROOFPIX_ENV="production", PROOFPIX_JWT_SECRET=secrets.token_urlsafe(48),
        PROOFPIX_CONFIG_KEY=Fernet.generate_key().decode(), PROOFPIX_SIGNING_KEY=pem)
    run_cli(["db", "upgrade"], env)
    create_admin(env, "ops@acme.dev")
    run_cli(["admin", "create-user", "--email", "staff@proofpix.dev", "--password",
             "multi-process-test-password", "--org", "Staff", "--platform-admin"], env)
    package = probe_ppx(data_root).read_bytes()
    asyncio.run(_publish(postgres_db_url, data_dir / "blobs", package,
                         PlatformKey(pem.encode()), "ops@acme.dev"))
    a, b = start_server(data_root, env), start_server(data_root, env)
    servers += [a, b]
    a.wait_healthy()
    b.wait_healthy()
    auth, staff = login(a.base, "ops@acme.dev"), login(a.base, "staff@proofpix.dev")
    via_a, via_b = Via(a.base, auth), Via(b.base, auth)
    admin_a, admin_b = Via(a.base, staff), Via(b.base, staff)
    try:
        ok(via_a.call("POST", "/api/plugins/install",
                      json={"source": "marketplace", "pluginId": PLUGIN}), 201)
        ok(via_a.call("POST", f"/api/plugins/{PLUGIN}/load"))
        via_a.converges(answers(version="1.0.0"), "loaded in A")
        via_b.converges(answers(version="1.0.0"), "loaded in B")

        ok(admin_a.call("POST", f"/api/admin/marketplace/{PLUGIN}/suspend",
                        json={"reason": "exfiltrates photos"}))
        took = _silent_within([via_a, via_b], KILL_DEADLINE)
        print(f"suspension in effect in both processes after {took:.3f} s")

        for via in (via_a, via_b):
            detail = ok(via.call("GET", f"/api/plugins/{PLUGIN}")).json()
            assert detail["status"] == "disabled", detail
            assert detail["statusReason"] == "suspended by the marketplace: exfiltrates photos"
            refused = via.call("POST", f"/api/plugins/{PLUGIN}/load")
            assert refused.status_code == 409, refused.text
        again = via_b.call("POST", "/api/plugins/install",
                           json={"source": "marketplace", "pluginId": PLUGIN})
        assert again.status_code == 409, again.text
        assert again.json()["errors"][0]["rule"] == "suspended"

        ok(admin_b.call("POST", f"/api/admin/marketplace/{PLUGIN}/unsuspend", json={}))
        ok(via_b.call("POST", f"/api/plugins/{PLUGIN}/load"))
        results: Results = via_b.probe()
        assert answers(version="1.0.0")(results), results
        via_a.converges(answers(version="1.0.0"), "loaded again in A")
    finally:
        for via in (via_a, via_b, admin_a, admin_b):
            via.close()
    b.stop()
    a.stop()
