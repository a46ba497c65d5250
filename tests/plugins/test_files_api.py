"""The photo pipeline's hostile-input cases: type by decoding, limits, tenancy."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
from fastapi import FastAPI
from PIL import Image

from proofpix_plugins.config import Settings
from tests.files.test_images import camera_jpeg
from tests.fixtures.app import StartApp, TestUser, client_for, create_test_user
from tests.plugins.builders import build_ppx, gps_jpeg
from tests.plugins.builders import manifest as mk
from tests.waiting import eventually


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 128)).save(buf, format="PNG")
    return buf.getvalue()


async def upload(api: httpx.AsyncClient, user: TestUser, name: str, data: bytes,
                 ctype: str = "image/jpeg") -> httpx.Response:
    return await api.post("/api/files", files={"file": (name, data, ctype)},
                          headers=user.headers)


async def test_type_is_decided_by_decoding_not_by_name(
    api: httpx.AsyncClient, admin: TestUser
) -> None:
    r = await upload(api, admin, "photo.jpg", png_bytes(), "image/jpeg")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["contentType"] == "image/png"
    assert body["pluginResults"] == []
    content = await api.get(f"/api/files/{body['id']}/content", headers=admin.headers)
    assert content.headers["content-type"] == "image/png"
    assert content.content == png_bytes()


async def test_non_images_and_truncated_images_are_415(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    r = await upload(api, admin, "a.jpg", b"GIF89a not really")
    assert r.status_code == 415
    assert r.json()["errors"][0]["field"] == "file"
    jpeg = gps_jpeg(ppx_dir / "t.jpg").read_bytes()
    assert (await upload(api, admin, "t.jpg", jpeg[: len(jpeg) // 2])).status_code == 415
    script = b"<script>alert(1)</script>"
    assert (await upload(api, admin, "x.html", script, "text/html")).status_code == 415


async def test_decompression_bomb_is_refused(api: httpx.AsyncClient, admin: TestUser) -> None:
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, format="PNG")  # 400 MP, a few KB
    r = await upload(api, admin, "bomb.png", buf.getvalue(), "image/png")
    # Refused from the header's dimensions, before a pixel is decoded, naming the limit.
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["rule"] == "max-pixels"


async def test_bad_multipart_requests_are_clear_errors(
    api: httpx.AsyncClient, admin: TestUser
) -> None:
    r = await api.post("/api/files", content=b"{}", headers={**admin.headers,
                                                             "content-type": "application/json"})
    assert r.status_code == 415
    r = await api.post("/api/files", files={"other": ("a.jpg", b"x")}, headers=admin.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"
    multipart = {**admin.headers, "content-type": "multipart/form-data; boundary=zz"}
    r = await api.post("/api/files", content=b"--zz\r\ngarbage", headers=multipart)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"


async def test_upload_over_the_limit_is_413(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    small = platform_settings.model_copy(update={"max_upload_bytes": 2048})
    async with start_app(small, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app)
        r = await upload(api, user, "big.jpg", b"\xff\xd8" + b"\0" * 10_000)
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_files_of_another_organization_are_404(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI
) -> None:
    r = await upload(api, admin, "p.png", png_bytes(), "image/png")
    file_id = r.json()["id"]
    other = await create_test_user(platform, tier="free", role="owner")
    for path in (f"/api/files/{file_id}", f"/api/files/{file_id}/content"):
        assert (await api.get(path, headers=other.headers)).status_code == 404
    assert (await api.get("/api/files/not-a-uuid", headers=admin.headers)).status_code == 404
    r = await api.get(f"/api/files/{file_id}/content?variant=processed", headers=admin.headers)
    assert r.status_code == 404
    r = await api.get(f"/api/files/{file_id}/content?variant=thumb", headers=admin.headers)
    assert r.status_code == 422


async def test_a_camera_photo_with_zero_denominator_exif_uploads_on_every_database(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    photo = camera_jpeg(ppx_dir / "cam.jpg").read_bytes()

    r = await upload(api, admin, "cam.jpg", photo)

    assert r.status_code == 201, r.text
    exif = r.json()["exif"]
    assert exif["make"] == "Canon"
    assert "exposureTime" not in exif
    again = await api.get(f"/api/files/{r.json()['id']}", headers=admin.headers)
    assert again.json()["exif"] == exif


SLOW_ANALYZER = """
import time


def on_upload(event, ctx):
    time.sleep(float(ctx.config.get("sleep") or 0))
    return {"n": ctx.storage.get("n")}
"""


async def test_reprocess_replaces_the_results_and_is_refused_while_the_plugins_run(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    meta = mk("acme.slow", hooks=[{"name": "file:uploaded", "handler": "on_upload"}],
              permissions=["files", "storage"], resources={"timeout_ms": 10_000},
              config_schema={"type": "object", "properties": {"sleep": {"type": "number"}}})
    ppx = build_ppx(ppx_dir, meta, SLOW_ANALYZER)
    r = await api.post("/api/plugins/install", headers=admin.headers,
                       files={"file": (ppx.name, ppx.read_bytes())})
    assert r.status_code == 201, r.text
    assert (await api.post("/api/plugins/acme.slow/load", headers=admin.headers)
            ).status_code == 200
    record = (await upload(api, admin, "p.png", png_bytes(), "image/png")).json()
    assert record["status"] == "complete"
    assert len(record["pluginResults"]) == 1

    r = await api.post(f"/api/files/{record['id']}/reprocess", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "complete"
    assert len(r.json()["pluginResults"]) == 1  # replaced, not added to

    r = await api.put("/api/plugins/acme.slow/config", headers=admin.headers,
                      json={"values": {"sleep": 2}})
    assert r.status_code == 200, r.text
    running = asyncio.create_task(
        api.post(f"/api/files/{record['id']}/reprocess", headers=admin.headers))

    async def processing() -> bool:
        got = await api.get(f"/api/files/{record['id']}", headers=admin.headers)
        return bool(got.json()["status"] == "processing")

    await eventually(processing, what="the reprocess is running")
    r = await api.post(f"/api/files/{record['id']}/reprocess", headers=admin.headers)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["rule"] == "in-progress"
    assert (await running).json()["status"] == "complete"
    other = await create_test_user(platform, tier="free", role="owner")
    r = await api.post(f"/api/files/{record['id']}/reprocess", headers=other.headers)
    assert r.status_code == 404


def test_derived_images_accept_exactly_what_uploads_accept() -> None:
    # Two tables by design (the runtime may not import files/): held equal here.
    from proofpix_plugins.files import images
    from proofpix_plugins.runtime.host import derived

    assert derived.ACCEPTED_FORMATS == images.CONTENT_TYPES
    assert derived.MAX_PIXELS == images.MAX_PIXELS
