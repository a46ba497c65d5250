"""The photo pipeline with its blobs in an S3 bucket: install a processor plugin, upload a
photo, read both variants back, with every byte in the bucket (moto's S3 server on 127.0.0.1)
and none in the data dir."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from proofpix_plugins.storage.s3 import ObjectStorageUnavailable, S3BlobStore
from tests.fixtures.app import StartApp, build_test_settings, client_for, create_test_user
from tests.fixtures.s3 import S3Bucket
from tests.plugins.builders import PROCESSOR, build_ppx, gps_jpeg
from tests.plugins.builders import manifest as mk
from tests.plugins.test_plugin_api import install


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Sandboxed plugin uids must traverse it (pytest's tmp_path is 0700).
    path = Path(tempfile.mkdtemp(prefix="ppx-s3-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103 - plugin uids traverse, never list
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_uploads_and_plugin_artifacts_live_in_the_bucket(
    start_app: StartApp, db_url: str, data_dir: Path, s3_bucket: S3Bucket,
) -> None:
    settings = build_test_settings(db_url, data_dir / "data", plugin_metrics_flush_seconds=3600,
                                   **s3_bucket.settings())
    packages = data_dir / "packages"
    packages.mkdir()
    async with start_app(settings, platform=True) as app, client_for(app) as api:
        store = app.state.blob_store
        assert isinstance(store, S3BlobStore)
        admin = await create_test_user(app, tier="enterprise", role="admin")
        meta = mk("acme.gps-strip", type="processor", category="privacy",
                  hooks=[{"name": "file:process", "handler": "strip_gps"}],
                  permissions=["files", "images"])
        ppx = build_ppx(packages, meta, PROCESSOR)
        installed = await install(api, admin, ppx)
        assert installed.status_code == 201, installed.text
        artifact = installed.json()["plugin"]["artifactSha256"]
        assert (await api.post("/api/plugins/acme.gps-strip/load", headers=admin.headers)
                ).status_code == 200

        photo = gps_jpeg(packages / "p.jpg").read_bytes()
        r = await api.post("/api/files", files={"file": ("p.jpg", photo)},
                           headers=admin.headers)
        assert r.status_code == 201, r.text
        record = r.json()
        [result] = [x for x in record["pluginResults"] if x["hook"] == "file:process"]
        assert result["status"] == "ok", result
        assert record["processedSha256"] not in (None, record["sha256"])

        original = await api.get(f"/api/files/{record['id']}/content", headers=admin.headers)
        assert original.status_code == 200
        assert original.content == photo
        processed = await api.get(f"/api/files/{record['id']}/content?variant=processed",
                                  headers=admin.headers)
        assert processed.status_code == 200
        with Image.open(io.BytesIO(processed.content)) as img:
            assert not img.getexif().get_ifd(0x8825)  # the plugin stripped the GPS block

        assert set(await store.list_all()) >= {
            artifact, record["sha256"], record["processedSha256"]}
        assert await store.get_bytes(artifact) == ppx.read_bytes()
    assert not settings.blob_dir.exists() or not any(
        p.is_file() for p in settings.blob_dir.rglob("*"))


async def test_the_app_refuses_to_start_on_a_missing_bucket(
    start_app: StartApp, sqlite_db_url: str, data_dir: Path, s3_bucket: S3Bucket,
) -> None:
    overrides = {**s3_bucket.settings(), "s3_bucket": "proofpix-missing-bucket"}
    settings = build_test_settings(sqlite_db_url, data_dir / "data", **overrides)
    with pytest.raises(ObjectStorageUnavailable, match="proofpix-missing-bucket"):
        async with start_app(settings, platform=True):
            pass
