"""Publishing one scanned submission: listing, signed version row and log entry, in one go.

The one path to a published version, used by the pipeline (automatic publish) and by an admin's
approval. Everything is staged in the caller's transaction: the listing (created on the first
publish), the version with the marketplace's signature over the artifact's sha256, the
submission's new status and the ``publish`` entry of the publication log commit together or not
at all. ``(listing_id, version)`` is unique, so a second publish of the same version, by a
re-run job or a racing approval, fails instead of duplicating.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.marketplace import publog
from proofpix_plugins.marketplace.admission import listing_of
from proofpix_plugins.marketplace.catalog import refresh_listed
from proofpix_plugins.marketplace.review_diff import manifest_facts, scan_summary
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    Developer,
    ListingStatus,
    LogAction,
    MarketplaceListing,
    MarketplaceVersion,
    Submission,
    SubmissionStatus,
    VersionStatus,
)
from proofpix_plugins.packages.manifest import compare_versions
from proofpix_plugins.packages.platform_key import PlatformKey


async def previous_published(
    session: AsyncSession, plugin_id: str
) -> MarketplaceVersion | None:
    """The highest published (not re-reviewed) version of a plugin, the diff's baseline."""
    listing = await listing_of(session, plugin_id)
    if listing is None:
        return None
    rows = (
        await session.execute(
            select(MarketplaceVersion).where(
                MarketplaceVersion.listing_id == listing.id,
                MarketplaceVersion.status == VersionStatus.published,
            )
        )
    ).scalars().all()
    best: MarketplaceVersion | None = None
    for row in rows:
        if best is None or compare_versions(row.version, best.version) > 0:
            best = row
    return best


async def publish(
    session: AsyncSession,
    submission: Submission,
    *,
    key: PlatformKey,
    rules_version: str,
    decision_reason: str | None = None,
) -> MarketplaceVersion:
    """Publish ``submission`` (its ``scan_report`` holds the manifest); staged, not committed."""
    report: dict[str, Any] = submission.scan_report or {}
    manifest: dict[str, Any] = dict(report.get("manifest") or {})
    developer = await session.get(Developer, submission.developer_id)
    assert developer is not None  # the foreign key cascades
    permissions, hosts, secret_keys = manifest_facts(manifest)
    now = utcnow()
    listing = await listing_of(session, submission.plugin_id)
    fields: dict[str, Any] = {
        "name": str(manifest.get("name") or submission.plugin_id),
        "description": str(manifest.get("description") or ""),
        "type": str(manifest.get("type") or "utility"),
        "category": str(manifest.get("category") or "other"),
        "tags": list(manifest.get("tags") or []),
        "permissions": permissions,
        "verified": developer.verified,
        "latest_version": submission.version,
        "updated_at": now,
    }
    if listing is None:
        listing = MarketplaceListing(
            plugin_id=submission.plugin_id, developer_id=developer.id,
            status=ListingStatus.active, created_at=now, **fields,
        )
        session.add(listing)
        await session.flush()
    else:
        for name, value in fields.items():
            setattr(listing, name, value)
    signature = key.sign_artifact(submission.artifact_sha256)
    engines = manifest.get("engines") or {}
    version = MarketplaceVersion(
        listing_id=listing.id,
        version=submission.version,
        artifact_sha256=submission.artifact_sha256,
        size_bytes=submission.size_bytes,
        signature=signature,
        signing_key_id=key.key_id,
        developer_key_fingerprint=submission.developer_key_fingerprint,
        manifest=manifest,
        permissions=permissions,
        network_hosts=hosts,
        secret_keys=secret_keys,
        platform_range=str(engines.get("proofpix") or "") if isinstance(engines, dict) else "",
        changelog=submission.release_notes,
        scan_summary=scan_summary(report),
        rules_version=rules_version,
        status=VersionStatus.published,
        submission_id=submission.id,
        published_at=now,
    )
    session.add(version)
    await refresh_listed(session, listing)
    submission.status = SubmissionStatus.published
    submission.decided_at = now
    submission.updated_at = now
    if decision_reason is not None:
        submission.decision_reason = decision_reason
    await session.flush()
    await publog.append(
        session, LogAction.publish, plugin_id=submission.plugin_id,
        version=submission.version, artifact_sha256=submission.artifact_sha256,
        signature=signature,
        detail={"signingKeyId": key.key_id, "submissionId": str(submission.id),
                "developerKey": submission.developer_key_fingerprint},
    )
    return version
