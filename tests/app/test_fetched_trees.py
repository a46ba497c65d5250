"""A plugin installed through one machine runs on another that never saw its package (issue #12).

Two real `serve` processes with DIFFERENT data dirs (two machines: neither can see the other's
plugin trees), one PostgreSQL database, Redis, and one S3 bucket as the shared blob store (moto's
server, a real HTTP peer: ``tests/fixtures/s3.py``). A plugin is installed and loaded through A;
B, which has no tree for it, builds one from the artifact blob under its own data dir
(``<plugins>/.fetched/...``) and answers the hook. Then a second plugin's blob is replaced in
the bucket (other bytes under its sha256's key) before it is loaded through A: B logs the
digest mismatch, fetches no tree and never routes the plugin, while A (holding its own tree)
runs it; once the right bytes are back, B's retry loads it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path

import boto3
import pytest
from cryptography.fernet import Fernet

from tests.app.servers import Server, create_admin, login, run_cli, start_server
from tests.app.test_convergence import (
    DEADLINE,
    PLUGIN,
    Results,
    Via,
    answers,
    generous_limits,
    install,
    ok,
    probe_ppx,
    servers,
)
from tests.app.test_serve import data_root
from tests.fixtures.app import new_signing_pem
from tests.fixtures.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Bucket
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk

pytestmark = pytest.mark.slow

__all__ = ["data_root", "servers"]  # the fixtures, imported for this module's tests

OTHER = "acme.other"
OTHER_CODE = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:probe")
def probe(event: dict, ctx: HookContext) -> dict:
    return {"version": "other"}
"""
#: The reconcile retries a plugin it could not load after 5 s.
RETRY_DEADLINE = 20.0


def other_ppx(out: Path, answer: str = "other") -> Path:
    meta = mk(OTHER, "1.0.0", type="utility", category="workflow",
              hooks=[{"name": "custom:probe", "handler": "probe"}])
    return build_ppx(out / answer, meta, OTHER_CODE.replace('"other"', f'"{answer}"'))


def results_of(via: Via, plugin_id: str) -> Results:
    r = via.call("POST", "/api/plugins/hooks/custom:probe", json={"data": {}})
    assert r.status_code == 200, r.text
    return [x for x in r.json()["results"] if x["pluginId"] == plugin_id]


def wait_for(via: Via, plugin_id: str, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    last: Results = []
    while time.monotonic() < deadline:
        last = results_of(via, plugin_id)
        if len(last) == 1 and last[0]["status"] == "ok":
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: {plugin_id} not answering through {via.base}: {last}")


def put_blob(bucket: S3Bucket, sha256: str, data: bytes) -> None:
    client = boto3.client("s3", endpoint_url=bucket.endpoint_url, region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    try:
        client.put_object(Bucket=bucket.name, Key=f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}",
                          Body=data)
    finally:
        client.close()


def test_a_plugin_installed_through_one_machine_runs_on_another_from_the_verified_blob(
    data_root: Path, servers: list[Server], postgres_db_url: str, redis_url: str,
    s3_bucket: S3Bucket,
) -> None:
    shared = {"PROOFPIX_DATABASE_URL": postgres_db_url, "PROOFPIX_REDIS_URL": redis_url,
              "PROOFPIX_ENV": "production", "PROOFPIX_JWT_SECRET": secrets.token_urlsafe(48),
              "PROOFPIX_CONFIG_KEY": Fernet.generate_key().decode(),
              "PROOFPIX_SIGNING_KEY": new_signing_pem(),
              "PROOFPIX_BLOB_STORE": "s3", "PROOFPIX_S3_ENDPOINT_URL": s3_bucket.endpoint_url,
              "PROOFPIX_S3_BUCKET": s3_bucket.name, "PROOFPIX_S3_REGION": REGION,
              "PROOFPIX_S3_ACCESS_KEY_ID": ACCESS_KEY,
              "PROOFPIX_S3_SECRET_ACCESS_KEY": SECRET_KEY}
    env_a = generous_limits(data_root / "machine-a", **shared)
    env_b = generous_limits(data_root / "machine-b", **shared)
    run_cli(["db", "upgrade"], env_a)
    create_admin(env_a, "ops@acme.dev")
    a, b = start_server(data_root, env_a), start_server(data_root, env_b)
    servers += [a, b]
    a.wait_healthy()
    b.wait_healthy()
    auth = login(a.base, "ops@acme.dev")
    via_a, via_b = Via(a.base, auth), Via(b.base, auth)
    b_plugins = data_root / "machine-b" / "plugins"
    try:
        ppx = probe_ppx(data_root)
        install(via_a, ppx)
        ok(via_a.call("POST", f"/api/plugins/{PLUGIN}/load"))
        via_b.converges(answers(greeting="hello", version="1.0.0"), "load through A")
        sha = hashlib.sha256(ppx.read_bytes()).hexdigest()
        [fetched] = [p for p in b_plugins.rglob(f"1.0.0-{sha}") if p.is_dir()]
        assert ".fetched" in fetched.parts, fetched
        assert (fetched / "plugin.json").is_file()
        # B installed nothing: its only tree of the package is the one it fetched.
        assert [p for p in b_plugins.rglob(f"*{sha[:12]}*") if p.is_dir()] == [fetched]

        # A blob whose bytes are not its sha256's (a valid package of the same plugin, other
        # code): B refuses it, A (its own tree) runs it.
        good = other_ppx(data_root)
        other_sha = hashlib.sha256(good.read_bytes()).hexdigest()
        install(via_a, good)
        tampered = other_ppx(data_root, "evil").read_bytes()
        assert hashlib.sha256(tampered).hexdigest() != other_sha
        put_blob(s3_bucket, other_sha, tampered)
        ok(via_a.call("POST", f"/api/plugins/{OTHER}/load"))
        wait_for(via_a, OTHER, DEADLINE, "load through A")
        deadline = time.monotonic() + 3 * DEADLINE / 2
        while time.monotonic() < deadline and "plugins.artifact_digest_mismatch" not in (
                b.log.read_text(errors="replace")):
            assert results_of(via_b, OTHER) == []
            time.sleep(0.1)
        log = b.log.read_text(errors="replace")
        assert "plugins.artifact_digest_mismatch" in log, b.output()
        assert other_sha in log
        assert results_of(via_b, OTHER) == []
        assert not list(b_plugins.rglob(f"*-{other_sha}")), "a tree from unverified bytes"
        detail = ok(via_b.call("GET", f"/api/plugins/{OTHER}")).json()
        assert detail["status"] == "loaded", detail  # B wrote no failure into the shared row
        assert results_of(via_b, PLUGIN) != []  # the first plugin still runs on B

        # The right bytes back under the key: B's retry builds the tree and loads it.
        put_blob(s3_bucket, other_sha, good.read_bytes())
        wait_for(via_b, OTHER, RETRY_DEADLINE, "after the blob was repaired")
        assert results_of(via_b, OTHER)[0]["result"] == {"version": "other"}
        assert list(b_plugins.rglob(f"1.0.0-{other_sha}"))
    finally:
        via_a.close()
        via_b.close()
    b.stop()
    a.stop()
