"""The shelf of example plugins, each packed from examples/, validated, installed through the
API, loaded, and doing its job end to end on real photos through the hook bus and sandbox."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from proofpix_plugins.scanning import scan_package
from tests.files.shelf_kit import (
    EXAMPLES,
    hmac_judge,
    install,
    install_example,
    load,
    pack_example,
    photo,
    pixels,
    receiver,
    resolve_locally,
    result_of,
    slack_judge,
    upload,
)
from tests.fixtures.app import TestUser

SHELF = ["checksum", "exif-reader", "gps-stripper", "slack-notify", "upload-counter",
         "watermark", "webhook-notifier"]


def test_the_shelf_is_complete_and_every_example_validates_clean(tmp_path: Path) -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir() if (p / "plugin.json").is_file()) == SHELF
    for name in SHELF:
        assert (EXAMPLES / name / "README.md").read_text().strip()
        report = scan_package(pack_example(name, tmp_path), platform_version="0.1.0",
                              python_version="3.11.7")
        assert not report.rejected, (name, report)
        # The connectors' endpoint and secret have no sensible default: the low warning that an
        # admin must configure them before load is the one finding they may carry.
        allowed = ({"PPX-CONFIG-REQUIRED-NO-DEFAULT"}
                   if name in ("webhook-notifier", "slack-notify") else set())
        assert {f.rule_id for f in report.findings} <= allowed, (
            name, [f.rule_id for f in report.findings])


async def _processed(api: httpx.AsyncClient, user: TestUser, file_id: str) -> bytes:
    r = await api.get(f"/api/files/{file_id}/content?variant=processed", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.content


def _gps_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as img:
        return dict(img.getexif().get_ifd(0x8825))


async def test_exif_reader_and_gps_stripper(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await install_example(api, admin, "exif-reader", ppx_dir)
    await install_example(api, admin, "gps-stripper", ppx_dir)
    original = photo()
    assert _gps_of(original)

    record = await upload(api, admin, original)

    exif = result_of(record, "proofpix.exif-reader", "file:uploaded")
    assert exif == {"exif": True, "camera": "Canon EOS 5D Mark IV",
                    "takenAt": "2026:12:01 09:30:00", "hasGps": True, "tagCount": 4}
    assert record["metadata"]["plugins"]["proofpix.exif-reader"]["exif"]["hasGps"] is True
    stripped = result_of(record, "proofpix.gps-stripper", "file:process")
    assert stripped["gpsStripped"] is True
    assert "gps" not in stripped["exif"]  # the position is not echoed into the results
    processed = await _processed(api, admin, record["id"])
    assert _gps_of(processed) == {}
    assert pixels(processed) == pixels(original)  # not re-encoded: identical decoded pixels
    with Image.open(io.BytesIO(processed)) as img:
        assert img.getexif()[0x0110] == "Canon EOS 5D Mark IV"  # the rest of EXIF is kept
    # A photo without GPS is left alone.
    plain = await upload(api, admin, photo(gps=False))
    assert result_of(plain, "proofpix.gps-stripper", "file:process")["gpsStripped"] is False
    assert plain["processedSha256"] is None


def _mean_diff(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    diff = ImageChops.difference(a.crop(box), b.crop(box))
    return float(sum(ImageStat.Stat(diff).mean) / 3)


async def test_watermark_with_defaults_and_configured(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await install_example(api, admin, "watermark", ppx_dir)
    original = photo((400, 300), (40, 60, 90), gps=False, fmt="PNG", pattern=False)
    src = Image.open(io.BytesIO(original)).convert("RGB")

    record = await upload(api, admin, original, "w.png")

    mark = result_of(record, "proofpix.watermark", "file:process")["watermark"]
    assert mark["text"] == "ProofPix"
    assert mark["position"] == "bottom-right"
    assert mark["opacity"] == 0.5
    x0, y0, x1, y1 = mark["box"]
    assert x0 > 200  # bottom right
    assert y0 > 150
    out = Image.open(io.BytesIO(await _processed(api, admin, record["id"]))).convert("RGB")
    assert out.size == src.size
    assert _mean_diff(src, out, (x0, y0, x1, y1)) > 5
    assert _mean_diff(src, out, (0, 0, 150, 100)) == 0  # PNG: untouched elsewhere, exactly

    r = await api.put("/api/plugins/proofpix.watermark/config", headers=admin.headers,
                      json={"values": {"text": "CONFIDENTIAL", "position": "top-left",
                                       "opacity": 1.0}})
    assert r.status_code == 200, r.text
    record = await upload(api, admin, original, "w2.png")
    mark = result_of(record, "proofpix.watermark", "file:process")["watermark"]
    assert mark["text"] == "CONFIDENTIAL"
    x0, y0, x1, y1 = mark["box"]
    assert x1 < 250  # top left
    assert y1 < 100
    out = Image.open(io.BytesIO(await _processed(api, admin, record["id"]))).convert("RGB")
    assert _mean_diff(src, out, (x0, y0, x1, y1)) > 20
    assert _mean_diff(src, out, (250, 200, 400, 300)) == 0


async def test_checksum_flags_exact_and_near_duplicates(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await install_example(api, admin, "checksum", ppx_dir)
    first_bytes = photo((160, 120))
    first = await upload(api, admin, first_bytes)
    one = result_of(first, "proofpix.checksum", "file:uploaded")
    assert one["sha256"] == first["sha256"]
    assert len(one["dhash"]) == 16
    assert one["duplicate"] is False

    again = result_of(await upload(api, admin, first_bytes), "proofpix.checksum", "file:uploaded")
    assert again["duplicateOf"] == [first["id"]]
    assert again["duplicate"] is True

    img = Image.open(io.BytesIO(first_bytes))
    buf = io.BytesIO()
    img.resize((120, 90)).save(buf, format="JPEG", quality=60)  # re-encoded and resized
    near = result_of(await upload(api, admin, buf.getvalue()), "proofpix.checksum", "file:uploaded")
    assert near["duplicateOf"] == []
    assert first["id"] in [s["fileId"] for s in near["similarTo"]]

    other = result_of(await upload(api, admin, photo((160, 120), (10, 200, 10), pattern=False)),
                      "proofpix.checksum", "file:uploaded")
    assert other["duplicate"] is False


async def test_upload_counter_counts_through_the_hook_bus_and_reports_in_exports(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await install_example(api, admin, "upload-counter", ppx_dir)
    sizes = []
    for n in (1, 2):
        record = await upload(api, admin, photo(color=(n * 50, 0, 0)))
        sizes.append(record["sizeBytes"])
        counted = result_of(record, "proofpix.upload-counter", "file:uploaded")
        assert counted["total"] == n
        assert counted["bytes"] == sum(sizes)
    r = await api.get(f"/api/files/{record['id']}/export", headers=admin.headers)
    assert r.status_code == 200, r.text
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("manifest.json"))
    assert manifest["uploadCounts"]["total"] == 2


async def test_webhook_notifier_installs_unconfigured_then_signs_its_deliveries(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = resolve_locally(monkeypatch)
    key = b"0123456789abcdef-shared"
    with receiver(hmac_judge(key)) as hook_server:
        # Required config without defaults: it installs, unconfigured, and refuses to load.
        body = await install(api, admin, pack_example("webhook-notifier", ppx_dir))
        assert body["plugin"]["status"] == "needs_configuration"
        r = await api.post("/api/plugins/proofpix.webhook-notifier/load", headers=admin.headers)
        assert r.status_code == 409
        assert "signingKey" in r.text

        async def configure(url: str, signing_key: str) -> None:
            r = await api.put("/api/plugins/proofpix.webhook-notifier/config",
                              headers=admin.headers,
                              json={"values": {"url": url, "signingKey": signing_key}})
            assert r.status_code == 200, r.text

        async def prove(file_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
            created = await api.post(f"/api/files/{file_id}/proofs", headers=admin.headers)
            assert created.status_code == 201, created.text
            (outcome,) = created.json()["hookResult"]["results"]
            return created.json()["proof"], outcome

        # A host outside its network.allow is refused by the egress guard.
        await configure(hook_server.url(host="localhost"), key.decode())
        await load(api, admin, "proofpix.webhook-notifier")
        record = await upload(api, admin, photo())
        _, outcome = await prove(record["id"])
        assert outcome["status"] == "error"
        assert "not in network.allow" in outcome["error"]
        assert hook_server.requests == []

        await configure(hook_server.url(), key.decode())
        proof, outcome = await prove(record["id"])
        assert outcome["status"] == "ok", outcome
        assert outcome["result"] == {"delivered": True, "status": 200}
        assert "hooks.acme.example" in asked
        (delivery,) = hook_server.requests
        assert delivery.verdict == 200  # the receiver checked the HMAC over the raw body
        assert json.loads(delivery.body) == {
            "event": "proof:created", "org": str(admin.principal.org_id),
            "proofId": proof["id"], "fileId": record["id"], "sha256": record["sha256"],
            "keyId": proof["keyId"], "createdAt": proof["createdAt"],
            "signature": proof["signature"]}

        # A key the receiver does not share: refused (401), reported as the plugin's error.
        await configure(hook_server.url(), "another-key-0123456789")
        _, outcome = await prove(record["id"])
        assert outcome["status"] == "error"
        assert "401" in outcome["error"]
        assert hook_server.requests[-1].verdict == 401


async def test_slack_notify_posts_the_incoming_webhook_format(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_locally(monkeypatch)
    with receiver(slack_judge) as slack:
        body = await install(api, admin, pack_example("slack-notify", ppx_dir))
        assert body["plugin"]["status"] == "needs_configuration"
        r = await api.put("/api/plugins/proofpix.slack-notify/config", headers=admin.headers,
                          json={"values": {"webhookUrl": slack.url("/services/T0/B0/x",
                                                                    "hooks.slack.com")}})
        assert r.status_code == 200, r.text
        config = await api.get("/api/plugins/proofpix.slack-notify/config", headers=admin.headers)
        assert "/services/" not in config.text  # the URL is a secret: redacted on read
        await load(api, admin, "proofpix.slack-notify")
        record = await upload(api, admin, photo(), "harbour.jpg")

        created = await api.post(f"/api/files/{record['id']}/proofs", headers=admin.headers)

        (outcome,) = created.json()["hookResult"]["results"]
        assert outcome["status"] == "ok", outcome
        (post,) = slack.requests
        assert post.path == "/services/T0/B0/x"
        assert post.verdict == 200
        message = json.loads(post.body)
        assert message["username"] == "ProofPix"
        assert message["icon_emoji"] == ":camera:"
        assert "harbour.jpg" in message["text"]
        assert record["sha256"] in json.dumps(message["blocks"])


@pytest.mark.parametrize("name", ["checksum", "watermark"])
async def test_examples_with_full_defaults_load_without_config(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, name: str
) -> None:
    plugin_id = await install_example(api, admin, name, ppx_dir)
    r = await api.get(f"/api/plugins/{plugin_id}", headers=admin.headers)
    assert r.json()["status"] == "loaded"


def test_the_sample_photo_is_small_has_gps_and_is_what_its_script_makes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sample_photo",
                                                  EXAMPLES / "make_sample_photo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (EXAMPLES / "sample-photo.jpg").read_bytes()
    assert len(committed) < 100 * 1024
    made = module.sample_photo()
    assert _gps_of(committed) == _gps_of(made)
    assert _gps_of(committed)
    with Image.open(io.BytesIO(committed)) as a, Image.open(io.BytesIO(made)) as b:
        assert a.size == b.size == (640, 427)
        assert dict(a.getexif()) == dict(b.getexif())
