"""A rule-set change re-scans published versions: one that now fails goes back to review, its
installations are warned, the log records it, and an admin can restore it.

The rule change is a real extra check added to the scanner's check list (as tests/scanning adds
checks), which changes the rule-set version; nothing is mocked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import publog, rescan
from proofpix_plugins.models.marketplace import (
    LogAction,
    MarketplaceListing,
    MarketplaceVersion,
    PublicationLogEntry,
    Submission,
    SubmissionStatus,
    VersionStatus,
)
from proofpix_plugins.models.plugins import PluginEvent
from proofpix_plugins.scanning import Finding, Severity
from proofpix_plugins.scanning.context import ScanContext
from tests.fixtures.app import create_test_user
from tests.marketplace.publishing.conftest import MakeDeveloper, settled, submit
from tests.marketplace.publishing.test_publishing import HOOKS
from tests.plugins.builders import build_ppx, manifest
from tests.waiting import eventually

SOURCE = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    return {"api": "legacy_api"}
"""


@dataclass
class ForbidLegacyApi:
    """A rule added after publication: sources naming ``legacy_api`` are now an error."""

    id: str = "test-forbid-legacy-api"
    enabled: bool = True
    enforced: bool = True
    required: bool = False
    message: str = "no legacy_api"

    def run(self, ctx: ScanContext) -> list[Finding]:
        return [Finding("TEST-LEGACY-API", Severity.high, "legacy_api is forbidden", path)
                for path, src in ctx.sources.items() if b"legacy_api" in src.raw]


async def listed(mp: FastAPI, plugin_id: str) -> bool:
    async with session_scope(mp.state.session_factory) as session:
        return bool(await session.scalar(select(MarketplaceListing.listed).where(
            MarketplaceListing.plugin_id == plugin_id)))


async def test_a_version_failing_new_rules_goes_back_to_review_and_installs_are_warned(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    plugin_id = f"{dev.namespace}.legacy"
    ppx = build_ppx(ppx_dir, manifest(plugin_id, "1.0.0", hooks=HOOKS), SOURCE)
    sid = (await submit(api, dev, ppx)).json()["id"]
    assert (await settled(api, dev, sid))["status"] == "published"
    assert await listed(mp, plugin_id) is True  # publishing lists it
    org_admin = await create_test_user(mp, tier="enterprise", role="admin")
    installed = await api.post("/api/plugins/install", headers=org_admin.headers,
                               files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
    assert installed.status_code == 201, installed.text

    deps = mp.state.marketplace
    before = deps.rules_version
    # Nothing is stale yet: the start-up check queues nothing.
    assert await rescan.enqueue_if_stale(mp.state.session_factory, mp.state.job_queue,
                                         before) is False
    deps.checks.append(ForbidLegacyApi())
    assert deps.rules_version != before

    platform_admin = await create_test_user(mp, platform_admin=True)
    r = await api.post("/api/admin/marketplace/rescan", headers=platform_admin.headers)
    assert r.status_code == 202, r.text
    assert r.json()["rulesVersion"] == deps.rules_version

    async def sent_back() -> MarketplaceVersion | None:
        async with session_scope(mp.state.session_factory) as session:
            row = (await session.execute(select(MarketplaceVersion))).scalar_one()
            return row if row.status is VersionStatus.in_review else None

    version = await eventually(sent_back, what="version sent back to review", seconds=60)
    assert version is not None
    assert version.rules_version == deps.rules_version
    assert await listed(mp, plugin_id) is False  # its only version is back in review
    async with session_scope(mp.state.session_factory) as session:
        review = (await session.execute(select(Submission).where(
            Submission.status == SubmissionStatus.in_review))).scalar_one()
        events = list((await session.execute(select(PluginEvent).where(
            PluginEvent.event_type == rescan.REVIEW_EVENT))).scalars())
        actions = [e.action for e in (await session.execute(
            select(PublicationLogEntry).order_by(PublicationLogEntry.seq))).scalars()]
    assert review.plugin_id == plugin_id
    assert any("TEST-LEGACY-API" in reason for reason in review.review_reasons)
    assert [e.organization_id for e in events] == [org_admin.principal.org_id]
    assert events[0].details["level"] == "warning"
    assert actions == [LogAction.publish, LogAction.review]

    # The org sees the warning in its plugin events.
    seen = await api.get(f"/api/plugins/{plugin_id}/events", headers=org_admin.headers)
    assert rescan.REVIEW_EVENT in [e["type"] for e in seen.json()["items"]]

    # The admin restores it after review; the log says so and still verifies.
    ok = await api.post(f"/api/admin/submissions/{review.id}/approve",
                        headers=platform_admin.headers, json={"reason": "false positive"})
    assert ok.status_code == 200, ok.text
    async with session_scope(mp.state.session_factory) as session:
        restored = (await session.execute(select(MarketplaceVersion))).scalar_one()
        count = len((await session.execute(select(MarketplaceVersion))).scalars().all())
    assert restored.status is VersionStatus.published
    assert await listed(mp, plugin_id) is True  # the approval restores it
    assert count == 1
    log = (await api.get("/api/plugins/marketplace/log")).json()
    assert [e["action"] for e in log["items"]] == ["publish", "review", "review"]
    head = log["head"]
    assert publog.verify_chain(log["items"], mp.state.platform_key.public_key,
                               head_seq=head["seq"], head_hash=head["hash"],
                               head_signature=head["signature"]) == []


async def test_start_up_queues_a_rescan_when_a_version_was_scanned_under_other_rules(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    ppx = build_ppx(ppx_dir, manifest(f"{dev.namespace}.fine", "1.0.0", hooks=HOOKS), SOURCE)
    sid = (await submit(api, dev, ppx)).json()["id"]
    assert (await settled(api, dev, sid))["status"] == "published"
    async with session_scope(mp.state.session_factory) as session:
        await session.execute(update(MarketplaceVersion).values(rules_version="older"))
    current = mp.state.marketplace.rules_version
    assert await rescan.enqueue_if_stale(mp.state.session_factory, mp.state.job_queue,
                                         current) is True

    async def refreshed() -> bool:
        async with session_scope(mp.state.session_factory) as session:
            row = (await session.execute(select(MarketplaceVersion))).scalar_one()
            return row.rules_version == current and row.status is VersionStatus.published

    # Still clean under the current rules: brought up to date, never hidden.
    assert await eventually(refreshed, what="version re-scanned", seconds=60)
