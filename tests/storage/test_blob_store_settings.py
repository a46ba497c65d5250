"""``PROOFPIX_BLOB_STORE`` and the S3 settings: incomplete object-storage settings are refused
when the settings load, not at the first upload."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proofpix_plugins.config import BlobStoreKind, Settings


@pytest.fixture(autouse=True)
def _no_exported_storage_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BLOB_STORE", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(f"PROOFPIX_{name}", raising=False)


def test_the_file_system_store_is_the_default() -> None:
    assert Settings().blob_store is BlobStoreKind.fs


def test_the_s3_store_needs_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROOFPIX_BLOB_STORE", "s3")
    with pytest.raises(ValidationError, match="PROOFPIX_S3_BUCKET"):
        Settings()
    monkeypatch.setenv("PROOFPIX_S3_BUCKET", "photos")
    assert Settings().s3_bucket == "photos"


def test_explicit_credentials_come_in_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROOFPIX_S3_ACCESS_KEY_ID", "AKIA0000")
    with pytest.raises(ValidationError, match="PROOFPIX_S3_SECRET_ACCESS_KEY"):
        Settings()
    monkeypatch.setenv("PROOFPIX_S3_SECRET_ACCESS_KEY", "s3cr3t")
    secret = Settings().s3_secret_access_key
    assert secret is not None
    assert secret.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(Settings())
