"""The moderation queue: list submissions with their diff, approve (publish) or reject.

Only an ``in_review`` submission can be decided, once: the decision is a conditional update
(``WHERE status = 'in_review'``), so two admins deciding at the same moment get one success and
one 409, never two versions. A submission that a re-scan sent back to review names an existing
version: approving it restores that version (a ``review`` log entry says so) instead of
publishing it a second time; rejecting it keeps the version hidden.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import Conflict, NotFound
from proofpix_plugins.marketplace import publog
from proofpix_plugins.marketplace.admission import check_admissible, listing_of
from proofpix_plugins.marketplace.catalog import refresh_listed
from proofpix_plugins.marketplace.publishing import previous_published, publish
from proofpix_plugins.marketplace.review_diff import diff
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    Developer,
    LogAction,
    MarketplaceListing,
    MarketplaceVersion,
    Submission,
    SubmissionStatus,
    VersionStatus,
)
from proofpix_plugins.packages.platform_key import PlatformKey


async def page(
    session: AsyncSession, *, status: SubmissionStatus | None, page_no: int, limit: int,
    developer_id: uuid.UUID | None = None,
) -> tuple[Sequence[Submission], int]:
    stmt = select(Submission)
    count = select(func.count()).select_from(Submission)
    if status is not None:
        stmt = stmt.where(Submission.status == status)
        count = count.where(Submission.status == status)
    if developer_id is not None:
        stmt = stmt.where(Submission.developer_id == developer_id)
        count = count.where(Submission.developer_id == developer_id)
    # Oldest first for the queue (first come, first reviewed); the id breaks ties stably.
    order = (Submission.created_at.asc(), Submission.id) if developer_id is None else (
        Submission.created_at.desc(), Submission.id)
    rows = (
        await session.execute(stmt.order_by(*order).offset((page_no - 1) * limit).limit(limit))
    ).scalars().all()
    total = int((await session.execute(count)).scalar_one())
    return rows, total


async def get(session: AsyncSession, submission_id: uuid.UUID) -> Submission:
    submission = await session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("submission not found")
    return submission


async def review_diff(session: AsyncSession, submission: Submission) -> dict[str, Any] | None:
    """The submission's diff against the newest published version (None before its scan)."""
    if submission.scan_report is None:
        return None
    previous = await previous_published(session, submission.plugin_id)
    if previous is not None and previous.version == submission.version:
        previous = None  # a re-scan review: the version is its own baseline
    return diff(previous, submission.scan_report).as_wire()


async def _take(
    session: AsyncSession, submission_id: uuid.UUID, to: SubmissionStatus,
    reviewer: uuid.UUID, reason: str | None,
) -> Submission:
    submission = await get(session, submission_id)
    now = utcnow()
    taken = await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.status == SubmissionStatus.in_review)
        .values(status=to, reviewer_id=reviewer, decision_reason=reason, decided_at=now,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        raise Conflict(
            f"submission is {submission.status.value}, not in_review: it cannot be decided",
        )
    await session.refresh(submission)
    return submission


async def _reviewed_version(
    session: AsyncSession, submission: Submission
) -> MarketplaceVersion | None:
    listing = await listing_of(session, submission.plugin_id)
    if listing is None:
        return None
    return (
        await session.execute(
            select(MarketplaceVersion).where(
                MarketplaceVersion.listing_id == listing.id,
                MarketplaceVersion.version == submission.version,
            )
        )
    ).scalar_one_or_none()


async def approve(
    session: AsyncSession, submission_id: uuid.UUID, *, reviewer: uuid.UUID,
    reason: str | None, key: PlatformKey, rules_version: str,
) -> Submission:
    submission = await _take(session, submission_id, SubmissionStatus.published, reviewer,
                             reason)
    existing = await _reviewed_version(session, submission)
    if existing is not None:
        existing.status = VersionStatus.published
        restored = await session.get(MarketplaceListing, existing.listing_id)
        assert restored is not None  # the foreign key cascades
        await refresh_listed(session, restored)
        await publog.append(
            session, LogAction.review, plugin_id=submission.plugin_id,
            version=submission.version,
            detail={"decision": "restored", "submissionId": str(submission.id),
                    "reason": reason or ""},
        )
        return submission
    developer = await session.get(Developer, submission.developer_id)
    assert developer is not None
    # A newer version may have been published while this one waited (409, rolled back).
    await check_admissible(
        session, developer_id=developer.id, namespace=developer.namespace,
        plugin_id=submission.plugin_id, version=submission.version,
        exclude_submission=submission.id, open_submissions=False,
    )
    await publish(session, submission, key=key, rules_version=rules_version,
                  decision_reason=reason)
    submission.reviewer_id = reviewer
    return submission


async def reject(
    session: AsyncSession, submission_id: uuid.UUID, *, reviewer: uuid.UUID, reason: str,
) -> Submission:
    return await _take(session, submission_id, SubmissionStatus.rejected, reviewer, reason)
