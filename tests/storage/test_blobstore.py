"""The blob store contract, for every store: content-addressed, answering with sizes, not paths.

Each test runs on the file-system store and on the S3 store against a real S3-protocol server
on 127.0.0.1 (moto's server mode), in a fresh bucket.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from proofpix_plugins.errors import NotFound, ValidationFailed
from proofpix_plugins.storage.blobstore import BlobRef, BlobStore, FileSystemBlobStore
from proofpix_plugins.storage.s3 import ObjectStorageUnavailable, S3BlobStore
from tests.fixtures.s3 import ACCESS_KEY, REGION, SECRET_KEY


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "fs":
        return FileSystemBlobStore(tmp_path / "blobs")
    bucket = request.getfixturevalue("s3_bucket")
    return S3BlobStore(bucket.name, endpoint_url=bucket.endpoint_url, region=REGION,
                       access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)


def test_the_protocol_names_no_local_path() -> None:
    # An object store has no path to give: callers get sizes from the BlobRef instead.
    assert not hasattr(BlobStore, "local_path")


async def test_put_file_returns_the_digest_and_size_of_the_bytes(
    store: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "photo.bin"
    data = bytes(range(256)) * 9000  # spans several copy chunks
    source.write_bytes(data)
    ref = await store.put_file(source)
    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    assert await store.get_bytes(ref.sha256) == data
    assert source.read_bytes() == data  # the caller keeps its file


async def test_put_bytes_returns_the_digest_and_size(store: BlobStore) -> None:
    ref = await store.put_bytes(b"hello blobs")
    assert ref == BlobRef(hashlib.sha256(b"hello blobs").hexdigest(), 11)
    assert await store.get_bytes(ref.sha256) == b"hello blobs"
    empty = await store.put_bytes(b"")
    assert empty.size == 0
    assert await store.get_bytes(empty.sha256) == b""


async def test_put_file_and_put_bytes_of_the_same_content_name_one_blob(
    store: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"same bytes")
    first = await store.put_file(source)
    again = await store.put_file(source)
    from_bytes = await store.put_bytes(b"same bytes")
    assert first == again == from_bytes == BlobRef(first.sha256, 10)
    assert await store.list_all() == [first.sha256]


async def test_a_missing_source_file_stores_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await store.put_file(tmp_path / "missing")
    assert await store.list_all() == []


async def test_exists_delete_and_list_agree(store: BlobStore) -> None:
    a = await store.put_bytes(b"a")
    b = await store.put_bytes(b"b")
    assert await store.list_all() == sorted([a.sha256, b.sha256])
    assert await store.exists(a.sha256)
    assert await store.delete(a.sha256) is True
    assert await store.delete(a.sha256) is False
    assert not await store.exists(a.sha256)
    with pytest.raises(NotFound):
        await store.get_bytes(a.sha256)
    assert await store.list_all() == [b.sha256]


async def test_names_that_are_not_digests_are_refused(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(ValidationFailed):
            await store.get_bytes(bad)
        with pytest.raises(ValidationFailed):
            await store.exists(bad)
        with pytest.raises(ValidationFailed):
            await store.delete(bad)
    with pytest.raises(NotFound):
        await store.get_bytes("0" * 64)


# --- one store's own guarantees ---------------------------------------------------------------


async def test_the_file_system_store_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs")
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 10)
    await store.put_file(source)
    await store.put_file(source)  # already stored: the copy is dropped
    await store.put_bytes(b"y")
    with pytest.raises(FileNotFoundError):
        await store.put_file(tmp_path / "missing")
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []


async def test_the_s3_store_leaves_no_staging_object(s3_bucket, tmp_path: Path) -> None:
    store = S3BlobStore(s3_bucket.name, endpoint_url=s3_bucket.endpoint_url, region=REGION,
                        access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 48_000)  # 12 MB: a multipart upload
    ref = await store.put_file(source)
    await store.put_file(source)  # already stored: the staged copy is dropped
    assert await store.staging_keys() == []
    assert await store.list_all() == [ref.sha256]
    assert await store.get_bytes(ref.sha256) == source.read_bytes()


async def test_a_missing_bucket_or_an_unreachable_store_is_a_503_error(s3_server: str) -> None:
    missing = S3BlobStore("proofpix-no-such-bucket", endpoint_url=s3_server, region=REGION,
                          access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    with pytest.raises(ObjectStorageUnavailable, match="proofpix-no-such-bucket"):
        await missing.check()
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = S3BlobStore("proofpix-blobs", endpoint_url=f"http://127.0.0.1:{port}",
                              region=REGION, access_key_id=ACCESS_KEY,
                              secret_access_key=SECRET_KEY)
    with pytest.raises(ObjectStorageUnavailable) as caught:
        await unreachable.put_bytes(b"x")
    assert caught.value.status == 503


async def test_the_start_up_sweep_removes_a_dead_writers_temp_files_and_restores_its_aside(
    tmp_path: Path,
) -> None:
    """A process killed mid-put leaves ``put.<owner>.*``; one killed inside the collector's
    move-aside leaves ``gc.<owner>.<sha>.*``. The next start deletes the first, puts the second
    back, and leaves the files of live owners (its own and its siblings') alone."""
    live = FileSystemBlobStore(tmp_path, owner="live-1")
    ref = await live.put_bytes(b"wanted")
    tmp = tmp_path / ".tmp"
    blob = tmp_path / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    os.rename(blob, tmp / f"gc.dead-1.{ref.sha256}.abcd")  # the collector died mid-move
    (tmp / "put.dead-1.x1y2").write_bytes(b"half a phot")
    (tmp / "put.sibling-1.x3y4").write_bytes(b"in flight")
    (tmp / "put.live-1.x5y6").write_bytes(b"mine, in flight")
    (tmp / "tmpold").write_bytes(b"unnamed, old")
    os.utime(tmp / "tmpold", (time.time() - 7200, time.time() - 7200))
    (tmp / "tmpnew").write_bytes(b"unnamed, new")

    restarted = FileSystemBlobStore(tmp_path, owner="live-1")
    swept = restarted.sweep_abandoned(lambda owner: owner in ("live-1", "sibling-1"))

    assert sorted(p.name for p in swept) == sorted(
        [f"gc.dead-1.{ref.sha256}.abcd", "put.dead-1.x1y2", "tmpold"])
    assert await restarted.get_bytes(ref.sha256) == b"wanted"
    assert sorted(p.name for p in tmp.iterdir()) == [
        "put.live-1.x5y6", "put.sibling-1.x3y4", "tmpnew"]


async def test_temp_files_are_named_after_their_owner(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path, owner="123-456-0")
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 10)
    seen: list[str] = []
    real_replace = os.replace

    def spy(a: str, b: str) -> None:
        seen.append(Path(str(a)).name)
        real_replace(a, b)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("os.replace", spy)
        await store.put_file(src)
    assert seen
    assert seen[0].startswith("put.123-456-0.")
