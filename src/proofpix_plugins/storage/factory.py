"""The blob store the settings choose, checked before the platform uses it."""

from __future__ import annotations

from proofpix_plugins.config import BlobStoreKind, Settings
from proofpix_plugins.storage.blobstore import BlobStore, FileSystemBlobStore
from proofpix_plugins.storage.s3 import S3BlobStore


async def open_blob_store(settings: Settings, owner: str = "") -> BlobStore:
    """``PROOFPIX_BLOB_STORE``: the data dir's store, or the bucket's (reachable, or it raises).

    ``owner`` names this process in the data dir store's temporary files."""
    if settings.blob_store is BlobStoreKind.fs:
        return FileSystemBlobStore(settings.blob_dir.resolve(), owner)
    assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
    secret = settings.s3_secret_access_key
    store = S3BlobStore(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    await store.check()
    return store
