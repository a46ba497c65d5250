"""The publishing pipeline end to end over HTTP: submit, scan in the job runner, decide.

Real app, real scanner, real job runner, real database (SQLite and PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import publog
from proofpix_plugins.models.marketplace import (
    MarketplaceListing,
    MarketplaceVersion,
    PublicationLogEntry,
)
from proofpix_plugins.packages.signing import verify_digest
from tests.fixtures.app import create_test_user
from tests.marketplace.publishing.conftest import Dev, MakeDeveloper, settled, submit
from tests.plugins.builders import build_ppx, manifest

CLEAN = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    return {"ok": True}
"""

DANGEROUS = """
import subprocess

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    return {"out": subprocess.check_output(["id"]).decode()}
"""

HOOKS = [{"name": "file:uploaded", "handler": "on_upload"}]


def package(ppx_dir: Path, dev: Dev, version: str = "1.0.0", *, name: str = "tool",
            source: str = CLEAN, **fields: Any) -> Path:
    meta = manifest(f"{dev.namespace}.{name}", version, hooks=HOOKS, **fields)
    return build_ppx(ppx_dir, meta, source)


async def publish_ok(api: httpx.AsyncClient, dev: Dev, ppx: Path, **kw: Any) -> dict[str, Any]:
    r = await submit(api, dev, ppx, **kw)
    assert r.status_code == 202, r.text
    done = await settled(api, dev, r.json()["id"])
    assert done["status"] == "published", done
    return done


async def admin_headers(app: FastAPI) -> dict[str, str]:
    admin = await create_test_user(app, platform_admin=True)
    return admin.headers


async def test_a_verified_developer_s_clean_version_is_published_signed_and_logged(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    ppx = package(ppx_dir, dev)
    r = await submit(api, dev, ppx, notes="First release.")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert body["pluginId"] == f"{dev.namespace}.tool"
    assert body["version"] == "1.0.0"
    assert body["statusUrl"] == f"/api/developers/submissions/{body['id']}"
    assert r.headers["location"] == body["statusUrl"]

    done = await settled(api, dev, body["id"])
    assert done["status"] == "published"
    assert done["scanReport"]["rejected"] is False
    assert done["scanReport"]["pluginId"] == f"{dev.namespace}.tool"
    assert done["decidedAt"] is not None
    assert done["reviewReasons"] == []

    async with session_scope(mp.state.session_factory) as session:
        listing = (await session.execute(select(MarketplaceListing))).scalar_one()
        version = (await session.execute(select(MarketplaceVersion))).scalar_one()
        entries = list((await session.execute(select(PublicationLogEntry))).scalars())
    assert listing.plugin_id == f"{dev.namespace}.tool"
    assert listing.latest_version == "1.0.0"
    assert listing.verified is True
    assert listing.type == "analyzer"
    assert version.changelog == "First release."
    assert version.signing_key_id == mp.state.platform_key.key_id
    assert version.rules_version == mp.state.marketplace.rules_version
    assert verify_digest(version.artifact_sha256, version.signature,
                         mp.state.platform_key.public_pem)
    assert [(e.action.value, e.version) for e in entries] == [("publish", "1.0.0")]

    log = (await api.get("/api/plugins/marketplace/log")).json()
    head = log["head"]
    assert publog.verify_chain(log["items"], mp.state.platform_key.public_key,
                               head_seq=head["seq"], head_hash=head["hash"],
                               head_signature=head["signature"]) == []


async def test_a_new_permission_goes_to_review_with_its_diff_and_an_admin_approves(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    await publish_ok(api, dev, package(ppx_dir, dev, "1.0.0"))
    r = await submit(api, dev, package(ppx_dir, dev, "1.1.0", permissions=["http"],
                                       network={"allow": ["hooks.slack.com"]}))
    sid = r.json()["id"]
    done = await settled(api, dev, sid)
    assert done["status"] == "in_review"
    assert "new permissions: http" in done["reviewReasons"]
    assert "new network hosts: hooks.slack.com" in done["reviewReasons"]

    admin = await admin_headers(mp)
    queue = (await api.get("/api/admin/submissions?status=in_review", headers=admin)).json()
    assert queue["total"] == 1
    assert queue["items"][0]["id"] == sid
    diff = queue["items"][0]["diff"]
    assert diff["previousVersion"] == "1.0.0"
    assert diff["permissions"] == {"added": ["http"], "removed": []}
    assert diff["hosts"] == {"added": ["hooks.slack.com"], "removed": []}

    # A developer cannot use the admin queue.
    assert (await api.get("/api/admin/submissions", headers=dev.headers)).status_code == 401

    ok = await api.post(f"/api/admin/submissions/{sid}/approve", headers=admin,
                        json={"reason": "slack host is documented"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "published"
    again = await api.post(f"/api/admin/submissions/{sid}/approve", headers=admin, json={})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert (await api.post(f"/api/admin/submissions/{sid}/reject", headers=admin,
                           json={"reason": "too late"})).status_code == 409

    mine = (await api.get(f"/api/developers/submissions/{sid}", headers=dev.headers)).json()
    assert mine["status"] == "published"
    assert mine["decisionReason"] == "slack host is documented"
    async with session_scope(mp.state.session_factory) as session:
        listing = (await session.execute(select(MarketplaceListing))).scalar_one()
        versions = (await session.execute(
            select(func.count()).select_from(MarketplaceVersion))).scalar_one()
        publishes = (await session.execute(
            select(func.count()).select_from(PublicationLogEntry))).scalar_one()
    assert listing.latest_version == "1.1.0"
    assert listing.permissions == ["http"]
    assert versions == 2
    assert publishes == 2


async def test_an_unverified_developer_is_reviewed_and_a_rejection_reason_reaches_them(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=False)
    sid = (await submit(api, dev, package(ppx_dir, dev))).json()["id"]
    done = await settled(api, dev, sid)
    assert done["status"] == "in_review"
    assert any("unverified publisher" in reason for reason in done["reviewReasons"])

    admin = await admin_headers(mp)
    missing = await api.post(f"/api/admin/submissions/{sid}/reject", headers=admin, json={})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "reason"
    r = await api.post(f"/api/admin/submissions/{sid}/reject", headers=admin,
                       json={"reason": "the description is empty"})
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    assert (await api.post(f"/api/admin/submissions/{sid}/reject", headers=admin,
                           json={"reason": "twice"})).status_code == 409
    mine = (await api.get(f"/api/developers/submissions/{sid}", headers=dev.headers)).json()
    assert mine["status"] == "rejected"
    assert mine["decisionReason"] == "the description is empty"
    async with session_scope(mp.state.session_factory) as session:
        assert (await session.execute(
            select(func.count()).select_from(MarketplaceVersion))).scalar_one() == 0


async def test_a_scan_error_is_rejected_with_the_report(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    sid = (await submit(api, dev, package(ppx_dir, dev, source=DANGEROUS))).json()["id"]
    done = await settled(api, dev, sid)
    assert done["status"] == "rejected"
    assert done["scanReport"]["rejected"] is True
    rules = {f["ruleId"] for f in done["scanReport"]["findings"]}
    assert any(rule.startswith("PPX-") for rule in rules)
    assert done["reviewReasons"]
    assert done["decisionReason"]
    admin = await admin_headers(mp)
    assert (await api.post(f"/api/admin/submissions/{sid}/approve", headers=admin,
                           json={})).status_code == 409
    async with session_scope(mp.state.session_factory) as session:
        assert (await session.execute(
            select(func.count()).select_from(MarketplaceListing))).scalar_one() == 0


async def test_submissions_are_private_to_their_developer_and_listed_with_a_filter(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    other = await make_developer(verified=True)
    sid = (await submit(api, dev, package(ppx_dir, dev))).json()["id"]
    await settled(api, dev, sid)
    r = await api.get(f"/api/developers/submissions/{sid}", headers=other.headers)
    assert r.status_code == 404
    mine = (await api.get("/api/developers/submissions?status=published",
                          headers=dev.headers)).json()
    assert mine["total"] == 1
    assert mine["items"][0]["id"] == sid
    assert mine["page"] == 1
    assert mine["limit"] == 20
    theirs = (await api.get("/api/developers/submissions", headers=other.headers)).json()
    assert theirs["total"] == 0
    assert theirs["items"] == []
