"""Clean-up by one install never removes what another install's committed rows reference.

The processes of one deployment share the database, the data dir and the blob store, so an
install's clean-up may run while another install of the same package (another organization,
another process) is between storing the artifact and committing its rows, and the blob sweep
(storage/gc.py, the only code that deletes blobs) may run at any moment. The multi-process
end-to-end races are in tests/app/test_serve_workers.py; this pins the worst moment exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.storage.blobstore import BlobRef, FileSystemBlobStore
from proofpix_plugins.storage.gc import BlobCollector
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import counter_ppx


async def test_an_artifact_swept_between_store_and_commit_is_stored_again(
    platform: FastAPI, admin: TestUser, ppx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service: PluginService = platform.state.plugin_service
    blobs: FileSystemBlobStore = platform.state.blob_store
    collector: BlobCollector = platform.state.blob_collector
    store = blobs.put_file
    raced: list[str] = []

    async def store_then_the_sweep_runs(path: Path) -> BlobRef:
        ref = await store(path)
        if not raced:
            # The blob sweep runs right now with no grace: no committed row names the artifact
            # yet, so it goes (a real sweep waits out its grace period first).
            raced.append(ref.sha256)
            assert ref.sha256 in await collector.sweep(grace_seconds=-1)
            assert not await blobs.exists(ref.sha256)
        return ref

    monkeypatch.setattr(blobs, "put_file", store_then_the_sweep_runs)
    result = await service.install_plugin(admin.principal.org_id, counter_ppx(ppx_dir))

    assert raced == [result.plugin.artifact_sha256]
    assert await blobs.exists(result.plugin.artifact_sha256)
    # And once a row names it, the same sweep keeps it.
    assert result.plugin.artifact_sha256 not in await collector.sweep(grace_seconds=-1)
    assert await blobs.exists(result.plugin.artifact_sha256)
