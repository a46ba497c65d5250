"""The README walkthrough against a real `proofpix-plugins serve` process (uvicorn on uvloop):
seed the demo org, pack an example plugin with the author CLI, install, load, upload a photo."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from proofpix_plugins.runtime.host import scratch_fs

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "proofpix_plugins.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_readme_walkthrough_on_a_real_server(data_dir: Path) -> None:
    descendants: list[int] = []
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")},
        "PROOFPIX_DATA_DIR": str(data_dir / "data"),
    }
    _run(["db", "upgrade"], env)
    seeded = _run(["demo", "seed"], env)
    password = re.search(r"password \(shown once\): (\S+)", seeded)
    assert password, seeded
    ppx = data_dir / "exif-reader.ppx"
    _run(["plugin", "pack", str(ROOT / "examples" / "exif-reader"), "-o", str(ppx)], env)

    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("serve never answered:\n"
                                + (data_dir / "serve.log").read_text()[-3000:])
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30) as http:
            login = http.post("/api/auth/login", json={"email": "demo@proofpix.dev",
                                                       "password": password.group(1)})
            assert login.status_code == 200, login.text
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            r = http.post("/api/plugins/install", headers=auth,
                          files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
            assert r.status_code == 201, r.text
            r = http.post("/api/plugins/proofpix.exif-reader/load", headers=auth)
            assert r.status_code == 200, r.text
            # The demo marketplace: found by search, installed from it (verified), loaded.
            r = http.get("/api/plugins/marketplace/search", params={"q": "gps"})
            assert r.status_code == 200, r.text
            assert "proofpix.gps-stripper" in [i["pluginId"] for i in r.json()["items"]]
            r = http.get("/api/plugins/marketplace/featured")
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) >= 7
            r = http.post("/api/plugins/install", headers=auth,
                          json={"source": "marketplace", "pluginId": "proofpix.gps-stripper"})
            assert r.status_code == 201, r.text
            r = http.post("/api/plugins/proofpix.gps-stripper/load", headers=auth)
            assert r.status_code == 200, r.text
            photo = ROOT / "examples" / "sample-photo.jpg"
            r = http.post("/api/files", headers=auth,
                          files={"file": ("sample-photo.jpg", photo.read_bytes(), "image/jpeg")})
            assert r.status_code == 201, r.text
            results = {res["pluginId"]: res for res in r.json()["pluginResults"]}
            reader = results["proofpix.exif-reader"]
            assert reader["status"] == "ok", reader
            assert reader["result"]["hasGps"] is True
            assert results["proofpix.gps-stripper"]["status"] == "ok", results
        verified = _run(["marketplace", "verify-log", base], env)
        assert verified.startswith("OK: 7 entries (7 published"), verified
        descendants = _descendants(proc.pid)
        assert len(descendants) >= 4  # sandbox template, its spare worker, bandit workers
        if os.geteuid() == 0:  # each loaded plugin's capped scratch dir (two are loaded)
            assert len(scratch_fs.mounted_under(data_dir / "data")) == 2
    finally:
        proc.send_signal(signal.SIGTERM)  # what process managers send
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    # Nothing the server started outlives it: template, workers, bandit's scan processes.
    deadline = time.monotonic() + 10
    while (alive := [p for p in descendants if Path(f"/proc/{p}").exists()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert alive == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in alive]
    # Nor any plugin's scratch tmpfs: the server unmounted them on its way out.
    assert scratch_fs.mounted_under(data_dir / "data") == []
