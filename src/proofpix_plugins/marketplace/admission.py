"""Who may submit which plugin version: namespace, version order, suspension.

The same checks run when a submission arrives (an immediate problem for the developer) and
again in the pipeline just before publishing (another submission may have been published in
between), so a version number is never published twice or below the newest one.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import Conflict, FieldError, Forbidden
from proofpix_plugins.models.marketplace import (
    ListingStatus,
    MarketplaceListing,
    MarketplaceVersion,
    Submission,
    SubmissionStatus,
)
from proofpix_plugins.packages.manifest import compare_versions

#: Submissions still on their way: a second upload of the same version is a replay.
OPEN_STATUSES = (SubmissionStatus.pending, SubmissionStatus.scanning, SubmissionStatus.in_review)


async def listing_of(session: AsyncSession, plugin_id: str) -> MarketplaceListing | None:
    return (
        await session.execute(
            select(MarketplaceListing).where(MarketplaceListing.plugin_id == plugin_id)
        )
    ).scalar_one_or_none()


async def newest_version(session: AsyncSession, listing_id: uuid.UUID) -> str | None:
    """The highest version ever published under the listing (yanked and re-reviewed count)."""
    versions = (
        await session.execute(
            select(MarketplaceVersion.version).where(MarketplaceVersion.listing_id == listing_id)
        )
    ).scalars().all()
    best: str | None = None
    for v in versions:
        if best is None or compare_versions(v, best) > 0:
            best = v
    return best


async def check_admissible(
    session: AsyncSession,
    *,
    developer_id: uuid.UUID,
    namespace: str,
    plugin_id: str,
    version: str,
    exclude_submission: uuid.UUID | None = None,
    open_submissions: bool = True,
) -> None:
    """Raise the problem that refuses this (plugin id, version) for this developer, if any.

    ``open_submissions=False`` (the pipeline's and approval's re-check) skips the replay check:
    two racing submissions of one version must not reject each other; the version order and
    the unique (listing, version) key let exactly one of them publish.
    """
    publisher = plugin_id.split(".", 1)[0]
    if publisher != namespace:
        raise Forbidden(
            f"plugin id {plugin_id!r} is outside your namespace {namespace!r}",
            errors=(FieldError("pluginId", f"must start with '{namespace}.'", "namespace",
                               plugin_id),),
        )
    listing = await listing_of(session, plugin_id)
    if listing is not None:
        if listing.developer_id != developer_id:
            # A namespace changes hands only through an admin; the listing's owner decides.
            raise Forbidden(
                f"plugin {plugin_id!r} belongs to another developer",
                errors=(FieldError("pluginId", "is owned by another developer", "owner",
                                   plugin_id),),
            )
        if listing.status is ListingStatus.suspended:
            raise Conflict(
                f"plugin {plugin_id!r} is suspended; no version can be submitted",
                errors=(FieldError("pluginId", "the listing is suspended", "suspended",
                                   plugin_id),),
            )
        newest = await newest_version(session, listing.id)
        if newest is not None and compare_versions(version, newest) <= 0:
            raise Conflict(
                f"replayed or downgraded version: {version} is not greater than the "
                f"published {newest}",
                errors=(FieldError("version", f"must be greater than {newest}",
                                   "version-order", version),),
            )
    if not open_submissions:
        return
    stmt = select(Submission.id).where(
        Submission.plugin_id == plugin_id,
        Submission.version == version,
        Submission.status.in_(OPEN_STATUSES),
    )
    if exclude_submission is not None:
        stmt = stmt.where(Submission.id != exclude_submission)
    if (await session.execute(stmt.limit(1))).first() is not None:
        raise Conflict(
            f"replayed or downgraded version: {plugin_id} {version} is already submitted",
            errors=(FieldError("version", "a submission of this version is in progress",
                               "version-replay", version),),
        )
