"""Clean-up by one install never removes what another install's committed rows reference.

The processes of one deployment share the database, the data dir and the blob store, so an
install's clean-up may run while another install of the same package (another organization,
another process) is between storing the artifact and committing its rows. The multi-process
end-to-end races are in tests/app/test_serve_workers.py; this pins the worst moment exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.storage.blobstore import BlobRef, FileSystemBlobStore
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import counter_ppx


async def test_an_artifact_deleted_between_store_and_commit_is_stored_again(
    platform: FastAPI, admin: TestUser, ppx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service: PluginService = platform.state.plugin_service
    blobs: FileSystemBlobStore = platform.state.blob_store
    store = blobs.put_file
    raced: list[str] = []

    async def store_then_sibling_cleans_up(path: Path) -> BlobRef:
        ref = await store(path)
        if not raced:
            # A failed install of the same package elsewhere runs its clean-up right now: no
            # committed row references the artifact yet, so it goes.
            raced.append(ref.sha256)
            await service._installs.gc_artifact(ref.sha256)
            assert not await blobs.exists(ref.sha256)
        return ref

    monkeypatch.setattr(blobs, "put_file", store_then_sibling_cleans_up)
    result = await service.install_plugin(admin.principal.org_id, counter_ppx(ppx_dir))

    assert raced == [result.plugin.artifact_sha256]
    assert await blobs.exists(result.plugin.artifact_sha256)
    # And once rows reference it, the same clean-up keeps it.
    await service._installs.gc_artifact(result.plugin.artifact_sha256)
    assert await blobs.exists(result.plugin.artifact_sha256)
