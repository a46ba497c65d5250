"""The file-system blob store: content-addressed, atomic, and answering with sizes, not paths."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from proofpix_plugins.errors import NotFound, ValidationFailed
from proofpix_plugins.storage.blobstore import BlobRef, BlobStore, FileSystemBlobStore


def test_the_protocol_names_no_local_path() -> None:
    # An object store has no path to give: callers get sizes from the BlobRef instead.
    assert not hasattr(BlobStore, "local_path")


async def test_put_file_returns_the_digest_and_size_of_the_bytes(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs")
    source = tmp_path / "photo.bin"
    data = bytes(range(256)) * 9000  # spans several copy chunks
    source.write_bytes(data)
    ref = await store.put_file(source)
    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    assert await store.get_bytes(ref.sha256) == data
    assert source.read_bytes() == data  # the caller keeps its file


async def test_put_file_and_put_bytes_of_the_same_content_name_one_blob(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs")
    source = tmp_path / "a.bin"
    source.write_bytes(b"same bytes")
    first = await store.put_file(source)
    again = await store.put_file(source)
    from_bytes = await store.put_bytes(b"same bytes")
    assert first == again == from_bytes == BlobRef(first.sha256, 10)
    assert await store.list_all() == [first.sha256]


async def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs")
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 10)
    await store.put_file(source)
    await store.put_file(source)  # already stored: the copy is dropped
    await store.put_bytes(b"y")
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []


async def test_a_missing_source_file_stores_nothing(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs")
    with pytest.raises(FileNotFoundError):
        await store.put_file(tmp_path / "missing")
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []
    assert await store.list_all() == []


async def test_names_that_are_not_digests_are_refused(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs")
    with pytest.raises(ValidationFailed):
        await store.get_bytes("../../etc/passwd")
    with pytest.raises(NotFound):
        await store.get_bytes("0" * 64)
