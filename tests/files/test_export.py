"""Export: a zip of the variants and a manifest; export:before runs as a validated waterfall
through real sandboxed plugins, and fails closed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx

from proofpix_plugins.files.payloads import EXPORT_MANIFEST_SCHEMA, validator_for
from tests.files.shelf_kit import has_gps, install, install_example, load, photo, upload
from tests.fixtures.app import TestUser
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk

REDACTOR = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("export:before")
def redact(event, ctx):
    exif = dict(event["metadata"]["exif"])
    exif.pop("gps", None)
    variants = [v for v in event["variants"] if v != "original"] or event["variants"]
    return {**event, "metadata": {**event["metadata"], "exif": exif}, "variants": variants,
            "redactedBy": ctx.plugin_id}
"""

HOSTILE = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("export:before")
def hostile(event, ctx):
    mode = ctx.config.get("mode")
    if mode == "none":
        return None
    if mode == "string":
        return "not a manifest"
    if mode == "sha":
        return {**event, "file": {**event["file"], "sha256": "0" * 64}}
    if mode == "variant":
        return {**event, "variants": event["variants"] + ["thumbnail"]}
    if mode == "proof":
        proofs = [dict(p, sha256="1" * 64) for p in event["proofs"]]
        return {**event, "proofs": proofs}
    if mode == "huge":
        return {**event, "padding": "x" * (5 * 1024 * 1024)}
    if mode == "drop-file":
        return {k: v for k, v in event.items() if k != "file"}
    if mode == "fail":
        raise RuntimeError("redaction service unavailable")
    return {**event, "note": "fine"}
"""


def _open(r: httpx.Response) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    manifest: dict[str, Any] = json.loads(zf.read("manifest.json"))
    assert list(validator_for(EXPORT_MANIFEST_SCHEMA).iter_errors(manifest)) == []
    return zf, manifest


async def test_export_zips_the_variants_and_a_manifest_with_the_proofs(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await install_example(api, admin, "gps-stripper", ppx_dir)
    original = photo()
    record = await upload(api, admin, original)
    proof = (await api.post(f"/api/files/{record['id']}/proofs", headers=admin.headers)
             ).json()["proof"]

    zf, manifest = _open(await api.get(f"/api/files/{record['id']}/export",
                                       headers=admin.headers))

    assert sorted(zf.namelist()) == ["manifest.json", "original.jpg", "processed.jpg"]
    assert zf.read("original.jpg") == original
    assert not has_gps(zf.read("processed.jpg"))
    assert manifest["variants"] == ["original", "processed"]
    assert manifest["file"]["sha256"] == record["sha256"]
    assert manifest["metadata"]["exif"]["gps"]["latitude"] > 48
    assert manifest["proofs"] == [proof]
    assert [r["pluginId"] for r in manifest["pluginResults"]] == ["proofpix.gps-stripper"]


async def test_a_redacting_plugin_removes_gps_and_the_original_through_the_sandbox(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await install_example(api, admin, "gps-stripper", ppx_dir)
    meta = mk("acme.redactor", type="processor", category="privacy",
              hooks=[{"name": "export:before", "handler": "redact"}])
    await install(api, admin, build_ppx(ppx_dir, meta, REDACTOR))
    await load(api, admin, "acme.redactor")
    record = await upload(api, admin, photo())
    await api.post(f"/api/files/{record['id']}/proofs", headers=admin.headers)

    zf, manifest = _open(await api.get(f"/api/files/{record['id']}/export",
                                       headers=admin.headers))

    assert sorted(zf.namelist()) == ["manifest.json", "processed.jpg"]
    assert not has_gps(zf.read("processed.jpg"))
    assert "gps" not in manifest["metadata"]["exif"]
    assert manifest["metadata"]["exif"]["make"] == "Canon"
    assert manifest["redactedBy"] == "acme.redactor"
    assert manifest["variants"] == ["processed"]


async def test_every_invalid_plugin_output_fails_the_export_closed(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    meta = mk("acme.hostile", hooks=[{"name": "export:before", "handler": "hostile"}],
              config_schema={"type": "object", "properties": {"mode": {"type": "string"}}},
              resources={"memory_mb": 256, "timeout_ms": 10000})
    await install(api, admin, build_ppx(ppx_dir, meta, HOSTILE))
    await load(api, admin, "acme.hostile")
    original = photo()
    record = await upload(api, admin, original)
    await api.post(f"/api/files/{record['id']}/proofs", headers=admin.headers)
    url = f"/api/files/{record['id']}/export"

    async def export_with(mode: str) -> httpx.Response:
        r = await api.put("/api/plugins/acme.hostile/config", headers=admin.headers,
                          json={"values": {"mode": mode}})
        assert r.status_code == 200, r.text
        return await api.get(url, headers=admin.headers)

    for mode, needle in (("string", "manifest object"), ("sha", "file/sha256"),
                         ("variant", "thumbnail"), ("proof", "proofs"),
                         ("huge", "limit"), ("drop-file", "'file' is a required"),
                         ("fail", "redaction service unavailable")):
        r = await export_with(mode)
        assert r.status_code == 502, (mode, r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["errors"][0]["field"] == "plugins.acme.hostile"
        assert needle in json.dumps(problem["errors"]), (mode, problem)

    zf, manifest = _open(await export_with("none"))  # returned nothing: unchanged
    assert zf.read("original.jpg") == original
    assert "note" not in manifest
    _, manifest = _open(await export_with("add"))
    assert manifest["note"] == "fine"
