"""The blob sweep: unreferenced blobs older than the grace period go, everything else stays; a
blob put again (an install of the same package by another organization) is never taken from
under its writer. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Organization
from proofpix_plugins.models.files import Blob, File
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.storage.blobstore import FileSystemBlobStore
from proofpix_plugins.storage.gc import BlobCollector

HOUR = 3600.0


def _age(store: FileSystemBlobStore, sha: str, seconds: float) -> None:
    path = store.root / sha[:2] / sha[2:4] / sha
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def store(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "blobs")


@pytest.fixture
def collector(
    session_factory: async_sessionmaker[AsyncSession], store: FileSystemBlobStore
) -> BlobCollector:
    return BlobCollector(session_factory, store, grace_seconds=HOUR, interval_seconds=HOUR)


async def _org(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with session_scope(sessions) as s:
        org = Organization(name="gc", slug=f"gc-{uuid.uuid4().hex[:12]}")
        s.add(org)
        await s.flush()
        return org.id


async def _plugin_row(sessions: async_sessionmaker[AsyncSession], org: uuid.UUID, sha: str,
                      plugin_id: str = "acme.gc") -> None:
    async with session_scope(sessions) as s:
        s.add(Plugin(organization_id=org, plugin_id=plugin_id, name="gc", version="1.0.0",
                     type="analyzer", category="metadata", artifact_sha256=sha,
                     install_path="/nowhere"))


async def test_only_old_unreferenced_blobs_are_collected(
    session_factory: async_sessionmaker[AsyncSession], store: FileSystemBlobStore,
    collector: BlobCollector,
) -> None:
    org = await _org(session_factory)
    artifact, original, processed, orphan, young = [
        await store.put_bytes(name.encode())
        for name in ("artifact", "original", "processed", "orphan", "young")]
    await _plugin_row(session_factory, org, artifact.sha256)
    async with session_scope(session_factory) as s:
        s.add(File(organization_id=org, filename="a.jpg", content_type="image/jpeg",
                   size_bytes=8, sha256=original.sha256, processed_sha256=processed.sha256))
        s.add(Blob(sha256=orphan.sha256, size_bytes=orphan.size))
    for ref in (artifact, original, processed, orphan):
        _age(store, ref.sha256, 2 * HOUR)
    _age(store, young.sha256, HOUR / 2)

    assert await collector.sweep() == [orphan.sha256]
    assert not await store.exists(orphan.sha256)
    for ref in (artifact, original, processed, young):
        assert await store.exists(ref.sha256)
    async with session_scope(session_factory) as s:
        assert (await s.execute(select(Blob.sha256))).scalars().all() == []
    assert await collector.sweep(grace_seconds=0) == [young.sha256]


async def test_an_artifact_stored_again_by_another_install_survives_the_sweep(
    session_factory: async_sessionmaker[AsyncSession], store: FileSystemBlobStore,
    collector: BlobCollector, tmp_path: Path,
) -> None:
    """Organization A uninstalled the package long ago (the blob is old and unreferenced);
    organization B's install has just stored the same package and not yet committed its row."""
    package = tmp_path / "same.ppx"
    package.write_bytes(b"PK\x03\x04 the same package for both organizations")
    first = await store.put_file(package)
    _age(store, first.sha256, 2 * HOUR)
    again = await store.put_file(package)  # B's install: the blob already exists
    assert again == first
    assert await collector.sweep() == []
    await _plugin_row(session_factory, await _org(session_factory), again.sha256)  # B commits
    assert await store.get_bytes(again.sha256) == package.read_bytes()


async def test_a_blob_put_between_listing_and_deleting_is_kept(
    store: FileSystemBlobStore,
) -> None:
    ref = await store.put_bytes(b"raced")
    _age(store, ref.sha256, 2 * HOUR)
    cutoff = time.time() - HOUR
    assert await store.list_older_than(cutoff) == [ref.sha256]
    await store.put_bytes(b"raced")  # a writer refreshes it after the listing
    assert await store.delete_if_older(ref.sha256, cutoff) is False
    assert await store.get_bytes(ref.sha256) == b"raced"
    assert list((store.root / ".tmp").iterdir()) == []
