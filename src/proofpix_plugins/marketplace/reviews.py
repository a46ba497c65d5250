"""Reviews (issue #14): only from organizations that installed the plugin; one per user.

A user may review a plugin when their current organization has it installed (whatever its
status): the review is from someone who ran it, not a drive-by rating (SPEC §12). A second
review by the same user edits the first (their rating changes; a developer reply stays). The
listing's ``rating_avg``/``rating_count`` are recomputed from the rows in the same transaction,
after an upsert that holds the row's lock, so concurrent reviews never leave a stale average.
Reviews are public but never name the reviewer's email or organization.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import Conflict, FieldError, Forbidden, NotFound
from proofpix_plugins.kit.upsert import insert_for
from proofpix_plugins.marketplace.artifact_source import listing_by_plugin_id
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    ListingStatus,
    MarketplaceListing,
    MarketplaceReview,
)
from proofpix_plugins.models.plugins import Plugin

#: How a reviewer is shown: never their email, name or organization (a privacy product).
REVIEWER_LABEL = "a verified installer"


@dataclass(frozen=True)
class ReviewView:
    id: uuid.UUID
    rating: int
    text: str
    author: str
    created_at: datetime
    updated_at: datetime
    reply: str | None
    replied_at: datetime | None


def view(row: MarketplaceReview) -> ReviewView:
    return ReviewView(row.id, row.rating, row.text, REVIEWER_LABEL, row.created_at,
                      row.updated_at, row.reply, row.replied_at)


async def _listing(session: AsyncSession, plugin_id: str) -> MarketplaceListing:
    listing = await listing_by_plugin_id(session, plugin_id)
    if listing is None:
        raise NotFound(f"plugin {plugin_id} is not in the marketplace")
    return listing


async def _recompute(session: AsyncSession, listing: MarketplaceListing) -> None:
    avg, count = (await session.execute(
        select(func.avg(MarketplaceReview.rating), func.count())
        .where(MarketplaceReview.listing_id == listing.id))).one()
    listing.rating_count = int(count)
    listing.rating_avg = round(float(avg or 0.0), 3)
    listing.updated_at = utcnow()


async def submit(
    session: AsyncSession, plugin_id: str, user_id: uuid.UUID, org_id: uuid.UUID,
    rating: int, text: str,
) -> tuple[ReviewView, bool]:
    """Create or edit the user's review; returns it and whether it was created."""
    listing = await _listing(session, plugin_id)
    if listing.status is ListingStatus.suspended:
        # A pulled plugin is not rated any more (its ratings stay as they were when pulled).
        raise Conflict(
            f"plugin {plugin_id} is suspended from the marketplace and takes no reviews",
            errors=(FieldError("pluginId", "the listing is suspended", "active", plugin_id),))
    installed = (await session.execute(select(Plugin.id).where(
        Plugin.organization_id == org_id, Plugin.plugin_id == plugin_id))).first()
    if installed is None:
        raise Forbidden(
            f"only members of an organization that has installed {plugin_id} may review it",
            errors=(FieldError("pluginId", "not installed in your organization",
                               "installed-only", plugin_id),))
    existed = (await session.execute(select(MarketplaceReview.id).where(
        MarketplaceReview.listing_id == listing.id, MarketplaceReview.user_id == user_id))
    ).first() is not None
    now = utcnow()
    stmt = insert_for(session, MarketplaceReview).values(
        id=uuid.uuid4(), listing_id=listing.id, user_id=user_id, organization_id=org_id,
        rating=rating, text=text, created_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["listing_id", "user_id"],
        set_={"rating": rating, "text": text, "organization_id": org_id, "updated_at": now})
    await session.execute(stmt)
    await _recompute(session, listing)
    row = (await session.execute(select(MarketplaceReview).where(
        MarketplaceReview.listing_id == listing.id, MarketplaceReview.user_id == user_id)
        .execution_options(populate_existing=True))).scalar_one()
    return view(row), not existed


async def page(
    session: AsyncSession, plugin_id: str, offset: int, limit: int
) -> tuple[list[ReviewView], int]:
    listing = await _listing(session, plugin_id)
    total = (await session.execute(select(func.count()).select_from(MarketplaceReview).where(
        MarketplaceReview.listing_id == listing.id))).scalar_one()
    rows = (await session.execute(
        select(MarketplaceReview).where(MarketplaceReview.listing_id == listing.id)
        .order_by(MarketplaceReview.created_at.desc(), MarketplaceReview.id.desc())
        .offset(offset).limit(limit))).scalars().all()
    return [view(r) for r in rows], int(total)


async def reply(
    session: AsyncSession, plugin_id: str, review_id: uuid.UUID, developer_id: uuid.UUID,
    text: str,
) -> ReviewView:
    """The listing's developer answers a review, once."""
    listing = await _listing(session, plugin_id)
    if listing.developer_id != developer_id:
        raise Forbidden(f"only the developer of {plugin_id} may reply to its reviews")
    now = utcnow()
    # One conditional UPDATE: of two concurrent replies exactly one matches `reply IS NULL`.
    done = (await session.execute(
        update(MarketplaceReview).where(
            MarketplaceReview.id == review_id, MarketplaceReview.listing_id == listing.id,
            MarketplaceReview.reply.is_(None))
        .values(reply=text, replied_at=now).returning(MarketplaceReview.id))).first()
    row = (await session.execute(select(MarketplaceReview).where(
        MarketplaceReview.id == review_id, MarketplaceReview.listing_id == listing.id)
        .execution_options(populate_existing=True))).scalar_one_or_none()
    if row is None:
        raise NotFound(f"plugin {plugin_id} has no review {review_id}",
                       errors=(FieldError("reviewId", "no such review", "not-found"),))
    if done is None:
        raise Conflict("this review already has a reply",
                       errors=(FieldError("reviewId", "already replied", "once"),))
    listing.updated_at = now
    return view(row)
