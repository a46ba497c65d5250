"""Seed marketplace listings and versions by inserting rows, until publishing lands.

``Seeder(app, tmp_path)`` writes real ``.ppx`` packages (tests/plugins/builders.py) into the
app's blob store and signs their digests with ``app.state.platform_key``, so downloads verify
against the public key exactly as published ones will.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace.catalog import refresh_listed
from proofpix_plugins.models.accounts import User
from proofpix_plugins.models.marketplace import (
    Developer,
    ListingStatus,
    MarketplaceListing,
    MarketplaceReview,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.storage.blobstore import BlobStore, FileSystemBlobStore
from tests.plugins.builders import build_ppx, manifest

SOURCE = """
from proofpix_sdk import Plugin

plugin = Plugin()
"""


class Seeder:
    def __init__(self, app: FastAPI, tmp_path: Path) -> None:
        self.app = app
        self.dir = tmp_path / "seed"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._developers: dict[str, uuid.UUID] = {}

    @property
    def factory(self) -> Any:
        return self.app.state.session_factory

    def blobs(self) -> BlobStore:
        store: BlobStore | None = getattr(self.app.state, "blob_store", None)
        if store is None:
            store = FileSystemBlobStore(self.app.state.settings.blob_dir.resolve())
            self.app.state.blob_store = store
        return store

    async def developer(self, namespace: str, *, verified: bool = False) -> uuid.UUID:
        if namespace in self._developers:
            return self._developers[namespace]
        async with session_scope(self.factory) as session:
            user = User(email=f"{namespace}-{uuid.uuid4().hex[:8]}@example.com",
                        password_hash="x", name=namespace)
            session.add(user)
            await session.flush()
            dev = Developer(user_id=user.id, namespace=namespace,
                            skeleton=f"{namespace}-{uuid.uuid4().hex}",
                            display_name=namespace.title(), verified=verified)
            session.add(dev)
            await session.flush()
            self._developers[namespace] = dev.id
            return dev.id

    async def listing(
        self, plugin_id: str, *, name: str | None = None, description: str = "",
        tags: list[str] | None = None, type: str = "analyzer", category: str = "metadata",
        permissions: list[str] | None = None, verified: bool = False,
        versions: tuple[str, ...] = ("1.0.0",), platform_range: str = "",
        downloads: int = 0, rating_avg: float = 0.0, rating_count: int = 0,
        status: ListingStatus = ListingStatus.active, status_reason: str | None = None,
        updated_at: datetime | None = None,
    ) -> uuid.UUID:
        namespace = plugin_id.split(".")[0]
        dev_id = await self.developer(namespace, verified=verified)
        async with session_scope(self.factory) as session:
            listing = MarketplaceListing(
                plugin_id=plugin_id, developer_id=dev_id, name=name or plugin_id,
                description=description, type=type, category=category, tags=tags or [],
                permissions=permissions or [], verified=verified,
                latest_version=versions[-1] if versions else None, status=status,
                status_reason=status_reason, downloads_total=downloads,
                rating_avg=rating_avg, rating_count=rating_count,
            )
            session.add(listing)
            await session.flush()
            listing_id = listing.id
        for v in versions:
            await self.version(listing_id, plugin_id, v, permissions=permissions or [],
                               platform_range=platform_range)
        if updated_at is not None:
            await self.touch(plugin_id, updated_at)
        return listing_id

    async def version(
        self, listing_id: uuid.UUID, plugin_id: str, version: str, *,
        permissions: list[str] | None = None, platform_range: str = "",
        status: VersionStatus = VersionStatus.published, yanked: bool = False,
        yanked_reason: str | None = None, changelog: str = "",
    ) -> str:
        meta = manifest(plugin_id, version, permissions=permissions or [])
        path = build_ppx(self.dir, meta, SOURCE)
        data = path.read_bytes()
        ref = await self.blobs().put_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        assert ref.sha256 == sha
        key = self.app.state.platform_key
        async with session_scope(self.factory) as session:
            session.add(MarketplaceVersion(
                listing_id=listing_id, version=version, artifact_sha256=sha,
                size_bytes=len(data), signature=key.sign_artifact(sha),
                signing_key_id=key.key_id, manifest=meta, permissions=permissions or [],
                network_hosts=[], secret_keys=[], platform_range=platform_range,
                changelog=changelog or f"release {version}", scan_summary={"findings": 0},
                status=status, yanked=yanked, yanked_reason=yanked_reason,
            ))
            await _relist(session, listing_id)
        return sha

    async def set(self, plugin_id: str, **values: Any) -> None:
        """Change a listing as other writers will: its ``updated_at`` moves too, and ``listed``
        is recomputed (a status or a yank may change it)."""
        values.setdefault("updated_at", datetime.now(UTC))
        async with session_scope(self.factory) as session:
            await session.execute(update(MarketplaceListing)
                                  .where(MarketplaceListing.plugin_id == plugin_id)
                                  .values(**values))
            lid = await session.scalar(select(MarketplaceListing.id)
                                       .where(MarketplaceListing.plugin_id == plugin_id))
            if lid is not None:
                await _relist(session, lid, updated_at=values["updated_at"])

    async def touch(self, plugin_id: str, when: datetime) -> None:
        await self.set(plugin_id, updated_at=when)

    async def yank(self, plugin_id: str, version: str, reason: str) -> None:
        async with session_scope(self.factory) as session:
            lid = await session.scalar(select(MarketplaceListing.id)
                                       .where(MarketplaceListing.plugin_id == plugin_id))
            await session.execute(update(MarketplaceVersion).where(
                MarketplaceVersion.listing_id == lid, MarketplaceVersion.version == version,
            ).values(yanked=True, yanked_reason=reason))
        await self.set(plugin_id)

    async def review(self, listing_id: uuid.UUID, rating: int) -> None:
        from proofpix_plugins.models.accounts import Organization

        async with session_scope(self.factory) as session:
            suffix = uuid.uuid4().hex[:10]
            user = User(email=f"r-{suffix}@example.com", password_hash="x")
            org = Organization(name=f"org {suffix}", slug=f"org-{suffix}")
            session.add_all([user, org])
            await session.flush()
            session.add(MarketplaceReview(listing_id=listing_id, user_id=user.id,
                                          organization_id=org.id, rating=rating))


async def _relist(session: Any, listing_id: uuid.UUID,
                  updated_at: datetime | None = None) -> None:
    """``catalog.refresh_listed``, as the real writers call it; keeps a seeded ``updated_at``."""
    listing = await session.get(MarketplaceListing, listing_id, populate_existing=True)
    assert listing is not None
    await refresh_listed(session, listing)
    if updated_at is not None:
        listing.updated_at = updated_at


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)
