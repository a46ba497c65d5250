"""Every host hook's payload has a published schema, and what the host really sends a sandboxed
plugin during upload, processing, proof and export validates against it."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx

from proofpix_plugins.files.payloads import (
    HOOK_PAYLOAD_SCHEMAS,
    render_schema,
    schema_file_name,
    validator_for,
)
from proofpix_plugins.packages.permissions import HOST_HOOKS
from tests.files.shelf_kit import install, load, photo, upload
from tests.fixtures.app import TestUser
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks"

CAPTURE = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


def seen(event, ctx):
    return {"received": event}


def process(event, ctx):
    return None  # passes the host's event on to the next processor unchanged


def export(event, ctx):
    return {**event, "captured": event}
"""

# file:process: a waterfall whose ``None`` passes the input on; the capture is a second,
# lower-priority processor that echoes what it got (the first one's input flows through).
ECHO = """
def echo(event, ctx):
    return {"received": event}
"""


def _errors(hook: str, payload: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}"
            for e in validator_for(HOOK_PAYLOAD_SCHEMAS[hook]).iter_errors(payload)]


def test_every_host_hook_has_a_schema_and_the_published_files_are_generated_from_it() -> None:
    assert set(HOOK_PAYLOAD_SCHEMAS) == set(HOST_HOOKS)
    for hook, schema in HOOK_PAYLOAD_SCHEMAS.items():
        validator_for(schema).check_schema(schema)
        published = DOCS / schema_file_name(hook)
        assert published.read_text() == render_schema(hook), (
            f"{published} is stale: python -m proofpix_plugins.files.payloads docs/hooks")
    assert sorted(p.name for p in DOCS.glob("*.schema.json")) == sorted(
        schema_file_name(h) for h in HOST_HOOKS)


def test_the_schemas_refuse_what_the_host_never_sends() -> None:
    event = {"fileId": "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", "filename": "a.jpg",
             "contentType": "image/jpeg", "sizeBytes": 10, "width": 1, "height": 1,
             "exif": {"gps": {"latitude": 1.0, "longitude": 2.0}}}
    assert _errors("file:uploaded", event) == []
    assert _errors("file:uploaded", {k: v for k, v in event.items() if k != "fileId"})
    assert _errors("file:uploaded", {**event, "extra": 1})
    assert _errors("file:uploaded", {**event, "exif": {"gps": {"latitude": 91.0}}})
    assert _errors("file:uploaded", {**event, "fileId": "not-a-uuid"})
    assert _errors("proof:created", event)
    assert _errors("export:before", {"manifestVersion": 2, "file": {}, "variants": []})


async def test_what_plugins_receive_in_the_sandbox_matches_every_schema(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    meta = mk("acme.capture", type="utility", permissions=["files"], hooks=[
        {"name": "file:uploaded", "handler": "seen"},
        {"name": "metadata:extracted", "handler": "seen"},
        {"name": "file:process", "handler": "process", "priority": 90},
        {"name": "proof:created", "handler": "seen"},
        {"name": "export:before", "handler": "export"},
    ])
    await install(api, admin, build_ppx(ppx_dir, meta, CAPTURE))
    await load(api, admin, "acme.capture")
    echo = mk("acme.echo", type="processor", permissions=["files"],
              hooks=[{"name": "file:process", "handler": "echo", "priority": 10}])
    await install(api, admin, build_ppx(ppx_dir, echo, ECHO))
    await load(api, admin, "acme.echo")

    record = await upload(api, admin, photo())
    captured: dict[str, Any] = {}
    for r in record["pluginResults"]:
        assert r["status"] == "ok", r
        if r["result"] is not None:
            captured[r["hook"]] = r["result"]["received"]
    created = (await api.post(f"/api/files/{record['id']}/proofs", headers=admin.headers)).json()
    (proof_result,) = created["hookResult"]["results"]
    captured["proof:created"] = proof_result["result"]["received"]
    r = await api.get(f"/api/files/{record['id']}/export", headers=admin.headers)
    assert r.status_code == 200, r.text
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("manifest.json"))
    captured["export:before"] = manifest["captured"]

    assert set(captured) == set(HOOK_PAYLOAD_SCHEMAS)
    for hook, payload in captured.items():
        assert _errors(hook, payload) == [], (hook, payload)
    assert captured["file:uploaded"]["exif"]["gps"]["latitude"] > 48
    assert captured["proof:created"]["proofId"] == created["proof"]["id"]
    assert captured["proof:created"]["document"] == created["proof"]["document"]
    assert captured["export:before"]["proofs"] == [created["proof"]]
