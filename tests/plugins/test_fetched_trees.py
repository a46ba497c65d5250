"""A version whose tree is not on this machine is built from its verified artifact blob, in
process (``plugins/trees.py``; the two-machine test is ``tests/app/test_fetched_trees.py``).

"Another machine installed it" is written straight to the database: the row's ``install_path``
moved outside this process's plugin dir, the plugin unloaded here, the clock bumped; the
reconcile must then run it from ``<plugins>/.fetched/...`` or, when the blob is missing or its
bytes are not its sha256's, log it, build no tree and load nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import update
from structlog.testing import capture_logs

from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.plugins.trees import FETCHED
from tests.fixtures.app import TestUser
from tests.plugins.test_convergence import PLUGIN, _bump, _loaded
from tests.plugins.test_plugin_api import counter_ppx


async def _installed_elsewhere(platform: FastAPI, org: uuid.UUID, service: PluginService) -> None:
    """This machine has no tree of the version: it was installed through another one."""
    await service.convergence.close()  # its loop would race the polls below; they stand in
    await service.bus.deactivate(str(org), PLUGIN)
    await _bump(platform, org, update(Plugin).where(Plugin.plugin_id == PLUGIN)
                .values(install_path="/another-machine/plugins/tree"))


def _fetched(platform: FastAPI) -> list[Path]:
    root = platform.state.settings.plugin_dir.resolve() / FETCHED
    return [p for p in root.glob("*/*/*") if p.is_dir()]


async def test_a_version_installed_elsewhere_runs_from_a_tree_built_from_its_blob(
    platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    service = await _loaded(platform, admin, ppx_dir)
    org = admin.principal.org_id
    sha = hashlib.sha256(counter_ppx(ppx_dir).read_bytes()).hexdigest()
    await _installed_elsewhere(platform, org, service)
    with capture_logs() as logs:
        await service.convergence.poll()
    [tree] = _fetched(platform)
    assert tree.name.endswith(f"-{sha}")
    assert tree.parent.name == PLUGIN
    spec = service.bus.spec_of(str(org), PLUGIN)
    assert spec is not None
    assert spec.root == tree
    assert any(e["event"] == "plugins.tree_fetched" for e in logs)
    assert (await service.execute_hook(org, "custom:count", {})).results[0].status == "ok"
    # Loaded again later (here: a restart's reload), the tree is found, not fetched again.
    await service.bus.deactivate(str(org), PLUGIN)
    with capture_logs() as logs:
        await _bump(platform, org)
        await service.convergence.poll()
    assert service.bus.is_registered(str(org), PLUGIN)
    assert not any(e["event"] == "plugins.tree_fetched" for e in logs)


async def test_a_tampered_or_missing_blob_is_refused_and_retried(
    platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    service = await _loaded(platform, admin, ppx_dir)
    org = admin.principal.org_id
    package = counter_ppx(ppx_dir).read_bytes()
    sha = hashlib.sha256(package).hexdigest()
    blob = platform.state.blob_store._path(sha)
    await _installed_elsewhere(platform, org, service)

    blob.write_bytes(package + b"\0")  # other bytes under the sha's name
    with capture_logs() as logs:
        await service.convergence.poll()
    assert [e for e in logs if e["event"] == "plugins.artifact_digest_mismatch"]
    assert not service.bus.is_registered(str(org), PLUGIN)
    assert _fetched(platform) == []
    assert service.convergence._retry == {(str(org), PLUGIN)}

    blob.unlink()
    with capture_logs() as logs:
        assert await service.convergence.reconcile(str(org), PLUGIN) is False
    assert [e for e in logs if e["event"] == "plugins.artifact_missing"]
    assert not service.bus.is_registered(str(org), PLUGIN)

    blob.write_bytes(package)  # repaired: the retry loads it
    assert await service.convergence.reconcile(str(org), PLUGIN) is True
    assert service.bus.is_registered(str(org), PLUGIN)
    assert len(_fetched(platform)) == 1
