"""Seeding marketplace listings and versions by inserting rows, until publishing lands.

A version's artifact is a real ``.ppx`` (tests/plugins/builders.py) stored in the app's blob
store, its digest signed with the app's platform key, exactly as the publishing pipeline will
write it.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace.catalog import refresh_listed
from proofpix_plugins.models.accounts import User
from proofpix_plugins.models.marketplace import (
    Developer,
    MarketplaceListing,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.packages.platform_key import PlatformKey
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk

COUNTER = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:mcount")
def count(event: dict, ctx: HookContext) -> dict:
    return {"version": "{version}"}
"""


def counter_manifest(plugin_id: str, version: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": "utility", "category": "workflow",
                            "hooks": [{"name": "custom:mcount", "handler": "count"}]}
    base.update(fields)
    return mk(plugin_id, version, **base)


async def developer(app: FastAPI, user_id: uuid.UUID, namespace: str) -> uuid.UUID:
    """The developer row of ``namespace`` (created for ``user_id`` when missing)."""
    async with session_scope(app.state.session_factory) as session:
        found = (await session.execute(
            select(Developer.id).where(Developer.namespace == namespace))).scalar_one_or_none()
        if found is not None:
            return found
        dev = Developer(user_id=user_id, namespace=namespace, skeleton=f"skel-{namespace}",
                        display_name=namespace)
        session.add(dev)
        await session.flush()
        return dev.id


async def any_user(app: FastAPI) -> uuid.UUID:
    async with session_scope(app.state.session_factory) as session:
        return (await session.execute(select(User.id).limit(1))).scalar_one()


async def publish(
    app: FastAPI,
    out_dir: Path,
    meta: dict[str, Any],
    *,
    developer_id: uuid.UUID,
    source: str | None = None,
    status: VersionStatus = VersionStatus.published,
    yanked: bool = False,
    signer: PlatformKey | None = None,
    artifact: bytes | None = None,
) -> str:
    """Store ``meta``'s package and insert its listing (when new) and version; returns sha256.

    ``signer``: sign with another key (a forged row); ``artifact``: store these bytes instead
    of the built package (the row then names them).
    """
    body = source if source is not None else COUNTER.replace("{version}", meta["version"])
    data = artifact if artifact is not None else build_ppx(out_dir, meta, body).read_bytes()
    ref = await app.state.blob_store.put_bytes(data)
    key: PlatformKey = signer or app.state.platform_key
    network = meta.get("network", {}).get("allow", [])
    props = (meta.get("config_schema") or {}).get("properties", {})
    secrets = sorted(k for k, v in props.items() if isinstance(v, dict) and v.get("x-secret"))
    async with session_scope(app.state.session_factory) as session:
        listing = (await session.execute(select(MarketplaceListing).where(
            MarketplaceListing.plugin_id == meta["id"]))).scalar_one_or_none()
        if listing is None:
            listing = MarketplaceListing(
                plugin_id=meta["id"], developer_id=developer_id, name=meta["name"],
                description=meta.get("description", ""), type=meta["type"],
                category=meta["category"], tags=[], permissions=list(meta["permissions"]))
            session.add(listing)
            await session.flush()
        if status == VersionStatus.published and not yanked:
            listing.latest_version = meta["version"]
        session.add(MarketplaceVersion(
            listing_id=listing.id, version=meta["version"], artifact_sha256=ref.sha256,
            size_bytes=ref.size, signature=key.sign_artifact(ref.sha256),
            signing_key_id=key.key_id, manifest=meta, permissions=list(meta["permissions"]),
            network_hosts=list(network), secret_keys=secrets,
            platform_range=meta.get("engines", {}).get("proofpix", ""), status=status,
            yanked=yanked, yanked_reason="seeded yanked" if yanked else None))
        await refresh_listed(session, listing)
    return ref.sha256


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def api_key(app: FastAPI, developer_id: uuid.UUID, *scopes: str) -> str:
    """A fresh API key of ``developer_id`` with ``scopes`` (stored hashed, as the portal does)."""
    from proofpix_plugins.developers.api_keys import display_prefix, key_digest, new_key
    from proofpix_plugins.models.marketplace import ApiKey

    key = new_key()
    async with session_scope(app.state.session_factory) as session:
        session.add(ApiKey(developer_id=developer_id, name="test", prefix=display_prefix(key),
                           key_hash=key_digest(key), scopes=list(scopes)))
    return key
