"""Discovery's per-process pieces: counters (flushed in the background) and the cache.

Started by the app's lifespan with or without the plugin platform (discovery needs no sandbox):
``start_discovery`` after the platform, ``stop_discovery`` before it, whose final flush writes
what the buffers still hold.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from proofpix_plugins.config import Settings
from proofpix_plugins.marketplace.counters import DiscoveryCounters
from proofpix_plugins.marketplace.discovery_cache import DiscoveryCache
from proofpix_plugins.storage.blobstore import BlobStore
from proofpix_plugins.storage.factory import open_blob_store


async def start_discovery(app: FastAPI) -> None:
    state = app.state
    settings: Settings = state.settings
    state.discovery_cache = DiscoveryCache(ttl_seconds=settings.marketplace_cache_seconds)
    # Rendered pages are the larger entries (~10 KB each): fewer of them.
    state.discovery_pages = DiscoveryCache(
        ttl_seconds=settings.marketplace_page_cache_seconds, max_entries=512)
    counters = DiscoveryCounters(
        state.session_factory, interval=settings.marketplace_counter_flush_seconds)
    state.discovery_counters = counters
    counters.start()


async def stop_discovery(app: FastAPI) -> None:
    counters: DiscoveryCounters | None = getattr(app.state, "discovery_counters", None)
    if counters is not None:
        await counters.stop()


def counters_of(request: Request) -> DiscoveryCounters:
    counters: DiscoveryCounters = request.app.state.discovery_counters
    return counters


def cache_of(request: Request) -> DiscoveryCache:
    cache: DiscoveryCache = request.app.state.discovery_cache
    return cache


def pages_of(request: Request) -> DiscoveryCache:
    """Whole rendered answers (body and ETag) under the validity token."""
    pages: DiscoveryCache = request.app.state.discovery_pages
    return pages


async def blobs_of(request: Request) -> BlobStore:
    """The platform's blob store; an app started without the platform opens its own."""
    state = request.app.state
    store: BlobStore | None = getattr(state, "blob_store", None)
    if store is None:
        store = await open_blob_store(state.settings)
        state.blob_store = store
    return store
