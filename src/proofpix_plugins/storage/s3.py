"""Blobs in S3-compatible object storage (AWS S3, MinIO, R2, Ceph …), through obstore.

The same content addressing as the file-system store: a blob's key is
``blobs/<ab>/<cd>/<sha256>``. ``put_bytes`` names the bytes it holds and uploads exactly them.
``put_file`` reads a small source (up to 8 MiB) into memory and does the same. A larger one it
reads once, hashing what it streams to a private staging key (``tmp/<uuid>``, a multipart
upload), and only then copies it, server-side, to the key its digest names — the object store's
version of the file-system store's temporary file and rename — so a blob's key always names the
bytes that were sent, even if the source changes under the upload. Every PUT and every part
carries ``x-amz-checksum-sha256`` of its body, which the server checks, so bytes damaged in
transit are refused rather than stored. A crash between upload and clean-up leaves a staging object:
give the bucket a lifecycle rule expiring ``tmp/`` after a day.

Credentials come from ``PROOFPIX_S3_ACCESS_KEY_ID`` / ``PROOFPIX_S3_SECRET_ACCESS_KEY`` when
set, else from the standard AWS sources (``AWS_ACCESS_KEY_ID`` …, web identity, instance
metadata), which obstore reads itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO

import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store

from proofpix_plugins.errors import NotFound, ServiceUnavailable
from proofpix_plugins.storage.blobstore import BlobRef, check_digest

_PREFIX = "blobs"
_STAGING = "tmp"
_CHUNK = 1024 * 1024
# Files up to this size are read into memory and sent in one PUT; larger ones are streamed.
_IN_MEMORY = 8 * 1024 * 1024


class ObjectStorageUnavailable(ServiceUnavailable):
    """The object store refused or failed a request (unreachable, credentials, bucket)."""

    title = "Object Storage Unavailable"
    slug = "object-storage-unavailable"


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except (ObjectStoreError, OSError) as exc:
        # The detail stays in the log of the 503's cause; the client learns only the action.
        raise ObjectStorageUnavailable(f"object storage failed to {action}") from exc


def _key(sha256: str) -> str:
    check_digest(sha256)
    return f"{_PREFIX}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


class S3BlobStore:
    """Blobs as objects ``blobs/ab/cd/<sha256>`` in one bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        config: dict[str, str] = {"checksum_algorithm": "sha256"}
        if endpoint_url:
            config["endpoint"] = endpoint_url
            # MinIO and most self-hosted stores serve the bucket as a path, not a subdomain.
            config["virtual_hosted_style_request"] = "false"
        if region:
            config["region"] = region
        if access_key_id and secret_access_key:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        self.bucket = bucket
        with _translated("configure the bucket"):
            self._store = S3Store(
                bucket,
                config=config,  # type: ignore[arg-type] # a dict of the S3Config keys
                client_options={
                    "allow_http": bool(endpoint_url and endpoint_url.startswith("http://")),
                    "connect_timeout": timedelta(seconds=5),
                },
                retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=60)},
            )

    async def check(self) -> None:
        """Fail now, not at the first upload, when the bucket is unreachable or refuses us.

        A listing, not a HEAD: a HEAD of a missing bucket is a bare 404, like a missing key.
        """
        with _translated(f"list bucket {self.bucket!r}"):
            async for _batch in obstore.list(self._store, prefix=f"{_PREFIX}/", chunk_size=1):
                break

    async def put_bytes(self, data: bytes) -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        # Always written, even when the key exists: a put refreshes the object's last-modified
        # time, which the blob sweep (storage/gc.py) reads as "someone is about to use this".
        with _translated("store a blob"):
            await obstore.put_async(self._store, _key(sha), data)
        return BlobRef(sha, len(data))

    async def put_file(self, path: Path) -> BlobRef:
        source = await asyncio.to_thread(path.open, "rb")  # a missing file fails here
        try:
            head = await asyncio.to_thread(source.read, _IN_MEMORY + 1)
            if len(head) <= _IN_MEMORY:
                # Small: the bytes in memory are the bytes hashed and sent, in one request.
                return await self.put_bytes(head)
            return await self._put_stream(source, head)
        finally:
            await asyncio.to_thread(_close, source)

    async def _put_stream(self, source: IO[bytes], head: bytes) -> BlobRef:
        digest = hashlib.sha256()
        size = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal size
            chunk = head
            while chunk:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
                chunk = await asyncio.to_thread(source.read, _CHUNK)

        staging = f"{_STAGING}/{uuid.uuid4().hex}"
        with _translated("store a blob"):
            await obstore.put_async(self._store, staging, chunks())
        sha = digest.hexdigest()
        try:
            # Copied even over an existing key, to refresh its time (see put_bytes).
            with _translated("store a blob"):
                await obstore.copy_async(self._store, staging, _key(sha))
        finally:
            await self._discard(staging)
        return BlobRef(sha, size)

    async def get_bytes(self, sha256: str) -> bytes:
        key = _key(sha256)
        try:
            with _translated("read a blob"):
                result = await obstore.get_async(self._store, key)
                return bytes(await result.bytes_async())
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} not found") from None

    async def exists(self, sha256: str) -> bool:
        key = _key(sha256)
        try:
            with _translated("look up a blob"):
                await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return False
        return True

    async def delete(self, sha256: str) -> bool:
        # S3 answers a DELETE of a missing key with success: ask first, to answer like the
        # file-system store.
        if not await self.exists(sha256):
            return False
        with _translated("delete a blob"):
            await obstore.delete_async(self._store, _key(sha256))
        return True

    async def list_all(self) -> list[str]:
        names: list[str] = []
        with _translated("list blobs"):
            async for batch in obstore.list(self._store, prefix=f"{_PREFIX}/"):
                names.extend(meta["path"].rsplit("/", 1)[-1] for meta in batch)
        return sorted(name for name in names if _is_digest(name))

    async def list_older_than(self, cutoff: float) -> list[str]:
        names: list[str] = []
        with _translated("list blobs"):
            async for batch in obstore.list(self._store, prefix=f"{_PREFIX}/"):
                names.extend(meta["path"].rsplit("/", 1)[-1] for meta in batch
                             if meta["last_modified"].timestamp() < cutoff)
        return sorted(name for name in names if _is_digest(name))

    async def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        """Delete the blob if its last put is still before ``cutoff``.

        S3 has no delete-if-unmodified, so a put landing between the HEAD and the DELETE (a few
        milliseconds, and only for a blob idle for the whole grace period) loses its object; an
        install re-stores a missing artifact before its rows commit (plugins/install.py).
        """
        try:
            with _translated("look up a blob"):
                meta = await obstore.head_async(self._store, _key(sha256))
        except FileNotFoundError:
            return False
        if meta["last_modified"].timestamp() >= cutoff:
            return False
        with _translated("delete a blob"):
            await obstore.delete_async(self._store, _key(sha256))
        return True

    async def staging_keys(self) -> list[str]:
        """Staging objects left behind (a crash mid-upload); for operators and tests."""
        keys: list[str] = []
        with _translated("list staging objects"):
            async for batch in obstore.list(self._store, prefix=f"{_STAGING}/"):
                keys.extend(meta["path"] for meta in batch)
        return sorted(keys)

    async def _discard(self, key: str) -> None:
        with _translated("remove a staging object"):
            await obstore.delete_async(self._store, key)


def _is_digest(name: str) -> bool:
    try:
        check_digest(name)
    except Exception:
        return False
    return True


def _close(handle: IO[bytes]) -> None:
    handle.close()
