"""Issue #15's author journey against a live server, all through the CLI and the API:
``plugin init``, ``validate``, ``test``, ``pack`` and ``publish`` (with an API key from
``POST /api/developers/register``, on a namespace a platform admin verified), then the
published plugin installs from the marketplace into an enterprise organization and loads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.app.servers import (
    CLI,
    PASSWORD,
    Server,
    base_env,
    login,
    run_cli,
    start_server,
)
from tests.app.test_serve import data_root

pytestmark = pytest.mark.slow

__all__ = ["data_root"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_init_validate_test_pack_publish_then_install_from_the_marketplace(
    data_root: Path, servers: list[Server]
) -> None:
    env = base_env(data_root / "data", PROOFPIX_JOBS_POLL_SECONDS="0.1")
    server = start_server(data_root, env)
    servers.append(server)
    server.wait_healthy()
    run_cli(["admin", "create-user", "--email", "author@example.com", "--password", PASSWORD,
             "--org", "Authors", "--tier", "enterprise", "--role", "owner",
             "--platform-admin"], env)
    author = login(server.base, "author@example.com")
    r = httpx.post(f"{server.base}/api/developers/register", headers=author, timeout=30,
                   json={"namespace": "lumen", "displayName": "Lumen Labs"})
    assert r.status_code == 201, r.text
    api_key = r.json()["apiKey"]["secret"]
    r = httpx.post(f"{server.base}/api/admin/developers/lumen/verify", headers=author,
                   timeout=30, json={"verified": True, "reason": "known publisher"})
    assert r.status_code == 200, r.text

    workdir = data_root / "work"
    workdir.mkdir()
    init = cli(env, "plugin", "init", "frame-meter", "--type", "analyzer",
               "--publisher", "lumen", "--dir", str(workdir / "frame-meter"))
    assert init.returncode == 0, init.stdout + init.stderr
    plugin_dir = workdir / "frame-meter"
    validate = cli(env, "plugin", "validate", str(plugin_dir), "--format", "json")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert json.loads(validate.stdout)["findings"] == []
    tested = cli(env, "plugin", "test", str(plugin_dir), "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    ppx = workdir / "frame-meter.ppx"
    packed = cli(env, "plugin", "pack", str(plugin_dir), "-o", str(ppx))
    assert packed.returncode == 0, packed.stdout + packed.stderr

    published = cli({**env, "PROOFPIX_API_KEY": api_key}, "plugin", "publish", str(ppx),
                    "--server", server.base, "--json", "--wait", "120")
    assert published.returncode == 0, published.stdout + published.stderr
    assert json.loads(published.stdout)["status"] == "published"

    r = httpx.post(f"{server.base}/api/plugins/install", headers=author, timeout=60,
                   json={"source": "marketplace", "pluginId": "lumen.frame-meter"})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{server.base}/api/plugins/lumen.frame-meter/load", headers=author,
                   timeout=60)
    assert r.status_code == 200, r.text
