"""Demo marketplace data: a verified publisher ``proofpix`` with the example plugins published
and featured, so a newcomer's first ``make run`` has something to find, install and try.

Every example goes through the real publishing path (packed, scanned with the install checks,
signed by the platform key, logged), never a shortcut that writes listing rows by hand: what the
demo shows is what publishing does. Idempotent: a version already published is skipped; the
featured list is filled only while no admin has curated one.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.developers.skeleton import skeleton
from proofpix_plugins.marketplace.pipeline import blocking_reasons, python_version
from proofpix_plugins.marketplace.publishing import publish
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    Developer,
    FeaturedEntry,
    MarketplaceListing,
    MarketplaceVersion,
    Submission,
    SubmissionStatus,
)
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.scanning import default_checks, scan_package
from proofpix_plugins.scanning.ruleset import ruleset_version
from proofpix_plugins.storage.blobstore import BlobStore

DEMO_NAMESPACE = "proofpix"


@dataclass
class DemoMarketplace:
    published: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)
    featured: bool = False


async def _publisher(session: AsyncSession, user_id: uuid.UUID) -> Developer:
    developer = (
        await session.execute(select(Developer).where(Developer.namespace == DEMO_NAMESPACE))
    ).scalar_one_or_none()
    if developer is None:
        # ``proofpix`` is a reserved namespace: only this seed (the platform itself) holds it.
        developer = Developer(
            user_id=user_id, namespace=DEMO_NAMESPACE, skeleton=skeleton(DEMO_NAMESPACE),
            display_name="ProofPix", verified=True, verified_at=utcnow(),
            verified_reason="the platform's own example plugins",
        )
        session.add(developer)
        await session.flush()
    return developer


def _pack_and_scan(src: Path) -> tuple[bytes, dict[str, Any]]:
    """Pack ``src`` and scan the package with the default checks (run in a thread)."""
    with tempfile.TemporaryDirectory(prefix="ppx-demo-") as tmp:
        out = Path(tmp) / f"{src.name}.ppx"
        write_archive(src, out)
        report = scan_package(out, platform_version=PLATFORM_VERSION,
                              python_version=python_version(), checks=default_checks())
        return out.read_bytes(), report.to_json()


def example_dirs(examples: Path) -> list[Path]:
    """The plugin directories under ``examples`` (those holding a ``plugin.json``)."""
    return sorted(p for p in examples.iterdir() if (p / "plugin.json").is_file())


async def seed_demo_marketplace(
    session: AsyncSession,
    blobs: BlobStore,
    key: PlatformKey,
    examples: Path,
    *,
    user_id: uuid.UUID,
) -> DemoMarketplace:
    """Publish every example under ``examples`` as the ``proofpix`` publisher (staged)."""
    outcome = DemoMarketplace()
    developer = await _publisher(session, user_id)
    rules = ruleset_version(default_checks())
    for src in await asyncio.to_thread(example_dirs, examples):
        data, report = await asyncio.to_thread(_pack_and_scan, src)
        plugin_id, version = str(report.get("pluginId") or src.name), str(report.get("version"))
        exists = (await session.execute(
            select(MarketplaceVersion.id)
            .join(MarketplaceListing, MarketplaceListing.id == MarketplaceVersion.listing_id)
            .where(MarketplaceListing.plugin_id == plugin_id,
                   MarketplaceVersion.version == version)
        )).first()
        if exists is not None:
            outcome.skipped.append(f"{plugin_id}@{version}")
            continue
        if report.get("rejected") or not plugin_id.startswith(f"{DEMO_NAMESPACE}."):
            outcome.refused[f"{plugin_id}@{version}"] = (
                blocking_reasons(report) if report.get("rejected")
                else [f"the id is not in the {DEMO_NAMESPACE} namespace"])
            continue
        ref = await blobs.put_bytes(data)
        submission = Submission(
            developer_id=developer.id, plugin_id=plugin_id, version=version,
            artifact_sha256=ref.sha256, size_bytes=len(data), status=SubmissionStatus.scanning,
            release_notes="Example plugin shipped with ProofPix (demo data).",
            scan_report=report,
        )
        session.add(submission)
        await session.flush()
        await publish(session, submission, key=key, rules_version=rules,
                      decision_reason="demo data: the platform's own example")
        outcome.published.append(f"{plugin_id}@{version}")
    curated = await session.scalar(select(func.count()).select_from(FeaturedEntry))
    if not curated:
        listings = (await session.execute(
            select(MarketplaceListing.id).where(MarketplaceListing.developer_id == developer.id)
            .order_by(MarketplaceListing.name)
        )).scalars().all()
        session.add_all(FeaturedEntry(listing_id=lid, position=i) for i, lid in enumerate(listings))
        outcome.featured = bool(listings)
    return outcome
