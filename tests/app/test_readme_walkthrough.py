"""The README's walkthrough, run as written: its shell block is taken from README.md and run
with bash against a real server seeded by ``demo seed`` (issue #15: "the README walkthrough runs
as written on a fresh make run"). Only the address, the printed password and the path of the
CLI are substituted; then the API is asked what the commands did."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.app.servers import Server, base_env, run_cli, start_server
from tests.app.test_serve import data_root

pytestmark = pytest.mark.slow

__all__ = ["data_root"]

ROOT = Path(__file__).resolve().parents[2]


def walkthrough_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Walkthrough", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README.md's walkthrough has no sh block"
    return match.group(1)


def test_the_readme_walkthrough_runs_as_written(data_root: Path, servers: list[Server]) -> None:
    env = base_env(data_root / "data")
    run_cli(["db", "upgrade"], env)
    seeded = run_cli(["demo", "seed"], env)
    password = re.search(r"password \(shown once\): (\S+)", seeded)
    assert password, seeded
    server = start_server(data_root, env)
    servers.append(server)
    server.wait_healthy()

    script = walkthrough_block()
    assert "<printed password>" in script
    script = script.replace("<printed password>", password.group(1))
    script = script.replace("B=http://127.0.0.1:8000", f"B={server.base}")
    script = script.replace(".venv/bin/proofpix-plugins",
                            f"{sys.executable} -m proofpix_plugins.cli.main")
    work = data_root / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: 7 entries (7 published" in done.stdout, done.stdout

    login = httpx.post(f"{server.base}/api/auth/login", timeout=30, json={
        "email": "demo@proofpix.dev", "password": password.group(1)})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    plugins = httpx.get(f"{server.base}/api/plugins", headers=headers, timeout=30).json()
    assert {(p["id"], p["status"]) for p in plugins["items"]} == {
        ("proofpix.exif-reader", "loaded"), ("proofpix.gps-stripper", "loaded")}
    # The upload's answer is in the script's output: the photo's id.
    uploaded = re.search(r'"id":\s*"([0-9a-f-]{36})"[^\n]*"pluginResults"', done.stdout)
    assert uploaded, done.stdout
    detail = httpx.get(f"{server.base}/api/files/{uploaded.group(1)}", headers=headers,
                       timeout=30).json()
    by_plugin = {r["pluginId"]: r for r in detail["pluginResults"]}
    assert by_plugin["proofpix.exif-reader"]["status"] == "ok", detail
    assert by_plugin["proofpix.exif-reader"]["result"]["hasGps"] is True
    assert by_plugin["proofpix.gps-stripper"]["status"] == "ok", detail
