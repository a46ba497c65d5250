"""Yank and suspend (issue #13): a platform admin's takedowns, each logged publicly.

- **Yank** a version: hidden from search and from installs that name no version; an install
  naming it exactly still works (pinned deployments keep working, as PyPI's PEP 592 yank);
  existing installations are untouched.
- **Suspend** a listing, the kill switch: never installable, and every installation of the
  plugin id in every organization is disabled in the same transaction
  (``plugins/takedown.py``), which every API process converges to within its reconcile
  interval. Loading it again is refused while the suspension lasts.

Each change appends a publication-log entry (``publog.append``) and bumps the listing's
``updated_at`` (the discovery caches' validity token) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Conflict, FieldError, NotFound
from proofpix_plugins.marketplace import publog
from proofpix_plugins.marketplace.artifact_source import listing_by_plugin_id
from proofpix_plugins.marketplace.catalog import refresh_listed
from proofpix_plugins.marketplace.versions import newest, versions_of, visible
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    ListingStatus,
    LogAction,
    MarketplaceListing,
    MarketplaceVersion,
)
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.takedown import disable_everywhere, note_suspension_lifted
from proofpix_plugins.plugins.unit_of_work import unit_of_work


@dataclass(frozen=True)
class ListingState:
    plugin_id: str
    status: ListingStatus
    status_reason: str | None
    #: Installations whose state this change touched (disabled, or told they may load).
    installations: int


@dataclass(frozen=True)
class VersionState:
    plugin_id: str
    version: str
    yanked: bool
    yanked_reason: str | None
    latest_version: str | None


async def _listing(session: AsyncSession, plugin_id: str) -> MarketplaceListing:
    listing = await listing_by_plugin_id(session, plugin_id, lock=True)
    if listing is None:
        raise NotFound(f"plugin {plugin_id} is not in the marketplace")
    return listing


async def set_yanked(
    sf: async_sessionmaker[AsyncSession], plugin_id: str, version: str, reason: str | None,
    *, yanked: bool,
) -> VersionState:
    async with session_scope(sf) as session:
        listing = await _listing(session, plugin_id)
        row = (await session.execute(select(MarketplaceVersion).where(
            MarketplaceVersion.listing_id == listing.id, MarketplaceVersion.version == version)
        )).scalar_one_or_none()
        if row is None:
            raise NotFound(f"plugin {plugin_id} has no version {version}")
        if row.yanked == yanked:
            state = "yanked" if yanked else "not yanked"
            raise Conflict(f"{plugin_id} {version} is already {state}",
                           errors=(FieldError("version", f"already {state}", "state",
                                              version),))
        row.yanked = yanked
        row.yanked_reason = reason if yanked else None
        # Search shows the newest visible version; none left shows none.
        best = newest(v for v in await versions_of(session, listing.id) if visible(v))
        listing.latest_version = best.version if best else None
        listing.updated_at = utcnow()
        await refresh_listed(session, listing)
        await publog.append(session, LogAction.yank if yanked else LogAction.unyank,
                            plugin_id=plugin_id, version=version,
                            artifact_sha256=row.artifact_sha256,
                            detail={"reason": reason} if reason else {})
        return VersionState(plugin_id, version, row.yanked, row.yanked_reason,
                            listing.latest_version)


async def set_suspended(
    sf: async_sessionmaker[AsyncSession], hub: EventHub, plugin_id: str, reason: str | None,
    *, suspended: bool,
) -> ListingState:
    async with unit_of_work(sf, hub) as work:
        listing = await _listing(work.session, plugin_id)
        target = ListingStatus.suspended if suspended else ListingStatus.active
        if listing.status == target:
            raise Conflict(f"plugin {plugin_id} is already {target.value}",
                           errors=(FieldError("status", f"already {target.value}", "state",
                                              target.value),))
        listing.status = target
        listing.status_reason = reason if suspended else None
        listing.updated_at = utcnow()
        await refresh_listed(work.session, listing)
        await publog.append(work.session,
                            LogAction.suspend if suspended else LogAction.unsuspend,
                            plugin_id=plugin_id, detail={"reason": reason} if reason else {})
        if suspended:
            touched = await disable_everywhere(work, plugin_id, reason or "no reason given")
        else:
            touched = await note_suspension_lifted(work, plugin_id)
        return ListingState(plugin_id, listing.status, listing.status_reason, touched)
