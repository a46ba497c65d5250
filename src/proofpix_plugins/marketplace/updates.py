"""Which installed plugins have a newer marketplace version, and what it would ask for.

A candidate is published, not yanked, of an active listing, compatible with this platform
(its ``engines.proofpix`` range) and newer than the installed version; the newest wins. The
diff compares the candidate with the installed version's manifest (permissions, network hosts,
``x-secret`` keys); ``pending`` is what an upgrade that names nothing would leave waiting for
consent, computed by the same ``plugins/grants.decide`` the install runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from proofpix_plugins.marketplace.versions import compatible, newer, newest, visible
from proofpix_plugins.models.marketplace import (
    ListingStatus,
    MarketplaceListing,
    MarketplaceVersion,
)
from proofpix_plugins.models.plugins import PermissionKind, Plugin
from proofpix_plugins.plugins.grants import decide
from proofpix_plugins.plugins.specs import granted, secret_keys


@dataclass(frozen=True)
class Update:
    plugin_id: str
    installed_version: str
    latest_version: str
    changelog: str
    permission_diff: dict[str, list[str]]
    needs_consent: bool


def _hosts(manifest: dict[str, Any]) -> set[str]:
    network = manifest.get("network") or {}
    return set(network.get("allow") or [])


def diff(row: Plugin, version: MarketplaceVersion) -> dict[str, list[str]]:
    old_p, new_p = set(row.manifest.get("permissions") or []), set(version.permissions)
    old_h, new_h = _hosts(row.manifest), set(version.network_hosts)
    old_s, new_s = secret_keys(row.manifest), frozenset(version.secret_keys)
    decision = decide(
        list(version.permissions), list(version.network_hosts), None,
        previous_permissions=granted(row, PermissionKind.permission),
        previous_hosts=granted(row, PermissionKind.network),
        secret_keys=new_s, previous_secret_keys=old_s,
    )
    return {
        "addedPermissions": sorted(new_p - old_p),
        "removedPermissions": sorted(old_p - new_p),
        "addedHosts": sorted(new_h - old_h),
        "removedHosts": sorted(old_h - new_h),
        "addedSecretKeys": sorted(new_s - old_s),
        "removedSecretKeys": sorted(old_s - new_s),
        "pending": decision.pending,
    }


async def updates_for(session: AsyncSession, org: uuid.UUID) -> list[Update]:
    rows = (await session.execute(
        select(Plugin).where(Plugin.organization_id == org)
        .options(selectinload(Plugin.permissions)).order_by(Plugin.plugin_id)
    )).scalars().all()
    if not rows:
        return []
    candidates = (await session.execute(
        select(MarketplaceListing.plugin_id, MarketplaceVersion)
        .join(MarketplaceVersion, MarketplaceVersion.listing_id == MarketplaceListing.id)
        .where(MarketplaceListing.plugin_id.in_([r.plugin_id for r in rows]),
               MarketplaceListing.status == ListingStatus.active)
    )).all()
    by_plugin: dict[str, list[MarketplaceVersion]] = {}
    for plugin_id, version in candidates:
        by_plugin.setdefault(plugin_id, []).append(version)
    out = []
    for row in rows:
        best = newest(v for v in by_plugin.get(row.plugin_id, [])
                      if visible(v) and compatible(v) and newer(v.version, row.version))
        if best is None:
            continue
        change = diff(row, best)
        out.append(Update(row.plugin_id, row.version, best.version, best.changelog, change,
                          bool(change["pending"])))
    return out
