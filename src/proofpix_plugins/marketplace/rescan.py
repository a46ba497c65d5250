"""Re-scanning published versions when the scanner's rule set changes.

Every published version records the ``rules_version`` it was scanned under. When the running
rule set has another version (a rule added or changed, bandit upgraded, a check added), the
re-scan job scans each such artifact again, one version per transaction, so a crash loses at
most the version in flight and a re-run skips what is already done:

- still clean: the version's ``rules_version`` and ``scan_summary`` are brought up to date;
- now rejected: the version goes back to review (``status = in_review``, hidden from new
  installs), a review submission records the report and reasons for the moderation queue, a
  ``review`` entry is appended to the publication log, and every organization that has the
  version installed gets a ``marketplace_review`` warning event saying why.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs import JobContext, JobQueue
from proofpix_plugins.marketplace import publog
from proofpix_plugins.marketplace.catalog import refresh_listed
from proofpix_plugins.marketplace.pipeline import PipelineDeps, blocking_reasons, scan_artifact
from proofpix_plugins.marketplace.review_diff import scan_summary
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    LogAction,
    MarketplaceListing,
    MarketplaceVersion,
    Submission,
    SubmissionStatus,
    VersionStatus,
)
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.plugins.events import add_event

RESCAN = "marketplace.rescan"
#: The event organizations get when a version they run is sent back to review.
REVIEW_EVENT = "marketplace_review"

log = structlog.get_logger(__name__)


async def stale_versions(session: AsyncSession, rules_version: str) -> list[uuid.UUID]:
    rows = await session.execute(
        select(MarketplaceVersion.id).where(
            MarketplaceVersion.status == VersionStatus.published,
            MarketplaceVersion.rules_version != rules_version,
        ).order_by(MarketplaceVersion.published_at)
    )
    return list(rows.scalars())


async def enqueue_if_stale(
    session_factory: async_sessionmaker[AsyncSession], queue: JobQueue, rules_version: str
) -> bool:
    """At start-up: queue one re-scan per rule-set version when any version is stale."""
    async with session_scope(session_factory) as session:
        if not await stale_versions(session, rules_version):
            return False
        await queue.enqueue(session, RESCAN, {"rulesVersion": rules_version},
                            key=f"{RESCAN}:{rules_version}")
    return True


async def _send_back(
    session: AsyncSession, version: MarketplaceVersion, listing: MarketplaceListing,
    report: dict[str, Any], rules_version: str,
) -> None:
    reasons = [f"re-scan under rule set {rules_version} fails: {r}"
               for r in blocking_reasons(report)]
    now = utcnow()
    version.status = VersionStatus.in_review
    version.rules_version = rules_version
    version.scan_summary = scan_summary(report)
    await refresh_listed(session, listing)
    submission = Submission(
        id=uuid.uuid4(), developer_id=listing.developer_id, plugin_id=listing.plugin_id,
        version=version.version, artifact_sha256=version.artifact_sha256,
        size_bytes=version.size_bytes, status=SubmissionStatus.in_review,
        release_notes=version.changelog, scan_report=report, review_reasons=reasons,
        developer_key_fingerprint=version.developer_key_fingerprint,
        created_at=now, updated_at=now,
    )
    session.add(submission)
    await publog.append(
        session, LogAction.review, plugin_id=listing.plugin_id, version=version.version,
        detail={"reason": "rescan", "rulesVersion": rules_version,
                "submissionId": str(submission.id), "findings": reasons[:10]},
    )
    installed = (
        await session.execute(
            select(Plugin.organization_id, Plugin.id).where(
                Plugin.plugin_id == listing.plugin_id, Plugin.version == version.version)
        )
    ).all()
    for org_id, row_id in installed:
        add_event(session, org_id, listing.plugin_id, REVIEW_EVENT, plugin_row_id=row_id,
                  details={"level": "warning", "version": version.version,
                           "message": "the marketplace sent this version back to review: a "
                           "re-scan with updated rules found problems",
                           "reasons": reasons[:10]})


async def rescan_version(
    session_factory: async_sessionmaker[AsyncSession], deps: PipelineDeps, version_id: uuid.UUID
) -> str:
    """Re-scan one version; returns what happened (``current``, ``clean`` or ``review``)."""
    rules_version = deps.rules_version
    async with session_scope(session_factory) as session:
        version = await session.get(MarketplaceVersion, version_id)
        if (version is None or version.status is not VersionStatus.published
                or version.rules_version == rules_version):
            return "current"
        sha256 = version.artifact_sha256
    report = await scan_artifact(deps, sha256)
    async with session_scope(session_factory) as session:
        version = await session.get(MarketplaceVersion, version_id, with_for_update=True)
        if version is None or version.status is not VersionStatus.published:
            return "current"
        listing = await session.get(MarketplaceListing, version.listing_id)
        assert listing is not None
        if report.get("rejected"):
            await _send_back(session, version, listing, report, rules_version)
            return "review"
        version.rules_version = rules_version
        version.scan_summary = scan_summary(report)
        return "clean"


def register(registry: Any, deps: PipelineDeps) -> None:
    async def rescan(ctx: JobContext) -> None:
        async with session_scope(ctx.session_factory) as session:
            ids = await stale_versions(session, deps.rules_version)
        outcomes: dict[str, int] = {}
        for version_id in ids:
            outcome = await rescan_version(ctx.session_factory, deps, version_id)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        log.info("marketplace.rescan_done", rules_version=deps.rules_version, **outcomes)

    registry.register(RESCAN, rescan, max_attempts=5, timeout_seconds=3600.0)
