"""Every Broker keeps the same promises: the in-memory one the runtime's tests and the red team
use, and production's database broker on SQLite and PostgreSQL.

A promise proven on ``MemoryBroker`` alone would prove nothing about production; each test below
runs on all three. What differs is only how a test seeds files and organizations and how it
observes recorded events (``Store``); the assertions are the contract.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import create_engine_for_url, create_session_factory, session_scope
from proofpix_plugins.files.work import FileWork
from proofpix_plugins.models.accounts import Organization
from proofpix_plugins.models.files import File
from proofpix_plugins.models.plugins import PluginEvent
from proofpix_plugins.plugins.db_broker import DbBroker
from proofpix_plugins.plugins.event_hub import LocalEventHub
from proofpix_plugins.runtime.errors import CapabilityError
from proofpix_plugins.runtime.host.broker import Broker
from proofpix_plugins.runtime.host.derived import DerivedImageBudget
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.quota import MAX_KEY_LENGTH, MAX_METADATA_BYTES, StorageQuota
from proofpix_plugins.runtime.spec import CallInfo
from proofpix_plugins.storage.blobstore import FileSystemBlobStore

# Small, so the quota tests stay cheap; every broker under test gets this one.
QUOTA = StorageQuota(max_keys=3, max_bytes=100, max_value_bytes=60)
DERIVED = DerivedImageBudget(max_image_bytes=4000, max_file_bytes=6000, max_file_images=3)
A, B = "acme.alpha", "acme.beta"
JPEG = b"\xff\xd8\xff\xe0 not much of a photo"


class Store(Protocol):
    """One broker under test, plus what the contract needs beside it: seeding and observing."""

    @property
    def broker(self) -> Broker: ...  # typed as the protocol: mypy checks both brokers fit it

    async def new_org(self) -> str: ...

    async def add_file(
        self, org_id: str, data: bytes, *, content_type: str = "image/jpeg",
        filename: str = "photo.jpg", exif: dict[str, Any] | None = None,
    ) -> str: ...

    async def events(self, org_id: str, plugin_id: str, event_type: str) -> list[dict[str, Any]]:
        ...


class MemoryStore:
    def __init__(self) -> None:
        self.broker = MemoryBroker(QUOTA, DERIVED)

    async def new_org(self) -> str:
        return str(uuid.uuid4())

    async def add_file(
        self, org_id: str, data: bytes, *, content_type: str = "image/jpeg",
        filename: str = "photo.jpg", exif: dict[str, Any] | None = None,
    ) -> str:
        file_id = str(uuid.uuid4())
        self.broker.add_file(org_id, file_id, data, content_type, filename, exif=exif)
        return file_id

    async def events(self, org_id: str, plugin_id: str, event_type: str) -> list[dict[str, Any]]:
        if event_type == "custom":  # what the database broker records for events.emit
            return [{"name": e.name, "data": e.data} for e in self.broker.emitted
                    if (e.org_id, e.plugin_id) == (org_id, plugin_id)]
        return [e.details for e in self.broker.events
                if (e.org_id, e.plugin_id, e.event_type) == (org_id, plugin_id, event_type)]


class DbStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], blob_dir: Path) -> None:
        self.sessions = sessions
        self.blobs = FileSystemBlobStore(blob_dir)
        self.work = FileWork()
        self.broker = DbBroker(sessions, self.blobs, LocalEventHub(), self.work, QUOTA, DERIVED)

    async def new_org(self) -> str:
        async with session_scope(self.sessions) as s:
            org = Organization(name="contract", slug=f"contract-{uuid.uuid4().hex[:12]}")
            s.add(org)
            await s.flush()
            return str(org.id)

    async def add_file(
        self, org_id: str, data: bytes, *, content_type: str = "image/jpeg",
        filename: str = "photo.jpg", exif: dict[str, Any] | None = None,
    ) -> str:
        ref = await self.blobs.put_bytes(data)
        async with session_scope(self.sessions) as s:
            row = File(organization_id=uuid.UUID(org_id), filename=filename,
                       content_type=content_type, size_bytes=len(data), sha256=ref.sha256,
                       exif=exif)
            s.add(row)
            await s.flush()
        # As FileService does: the file's pipeline runs while plugins are called about it.
        self.work.begin(str(row.id), ref)
        return str(row.id)

    async def events(self, org_id: str, plugin_id: str, event_type: str) -> list[dict[str, Any]]:
        async with session_scope(self.sessions) as s:
            rows = await s.scalars(
                select(PluginEvent.details)
                .where(PluginEvent.organization_id == uuid.UUID(org_id),
                       PluginEvent.plugin_id == plugin_id, PluginEvent.event_type == event_type)
                .order_by(PluginEvent.id))
            return list(rows.all())


@pytest.fixture(params=[
    "memory", "db-sqlite", pytest.param("db-postgres", marks=pytest.mark.postgres),
])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The database a DbBroker runs on (None: the in-memory broker)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue(f"{request.param.removeprefix('db-')}_db_url")
    return url


@pytest.fixture
async def store(store_url: str | None, tmp_path: Path) -> AsyncIterator[Store]:
    if store_url is None:
        yield MemoryStore()
        return
    engine = create_engine_for_url(store_url)
    try:
        yield DbStore(create_session_factory(engine), tmp_path / "blobs")
    finally:
        await engine.dispose()


@dataclass
class Org:
    """Shorthand for one organization's calls."""

    store: Store
    id: str

    def call(self, plugin_id: str = A, file_id: str | None = None) -> CallInfo:
        return CallInfo(org_id=self.id, plugin_id=plugin_id, hook="file:uploaded",
                        call_id=uuid.uuid4().hex, file_id=file_id)

    async def set(self, key: str, value: Any, plugin_id: str = A) -> None:
        await self.store.broker.storage_set(self.id, plugin_id, key, value)

    async def get(self, key: str, plugin_id: str = A) -> Any:
        return await self.store.broker.storage_get(self.id, plugin_id, key)

    async def keys(self, plugin_id: str = A) -> list[str]:
        return await self.store.broker.storage_keys(self.id, plugin_id)


@pytest.fixture
async def org(store: Store) -> Org:
    return Org(store, await store.new_org())


@pytest.fixture
async def other_org(store: Store) -> Org:
    return Org(store, await store.new_org())


# -- storage: get / set / delete / keys ----------------------------------------------------------


async def test_a_missing_key_reads_as_none(org: Org) -> None:
    assert await org.get("never-set") is None


async def test_a_stored_json_value_reads_back_equal(org: Org) -> None:
    value = {"n": 3, "tags": ["a", "ü"], "ok": True, "ratio": 0.5, "none": None}
    await org.set("k", value)
    assert await org.get("k") == value


async def test_setting_a_key_again_replaces_its_value(org: Org) -> None:
    await org.set("k", [1])
    await org.set("k", "two")
    assert await org.get("k") == "two"
    assert await org.keys() == ["k"]


async def test_delete_removes_the_key_and_deleting_a_missing_key_is_no_error(org: Org) -> None:
    await org.set("k", 1)
    await org.store.broker.storage_delete(org.id, A, "k")
    await org.store.broker.storage_delete(org.id, A, "never-set")
    assert await org.get("k") is None
    assert await org.keys() == []


async def test_keys_are_listed_sorted(org: Org) -> None:
    for key in ("b", "c", "a"):
        await org.set(key, 0)
    assert await org.keys() == ["a", "b", "c"]


@pytest.mark.parametrize("key", ["", "k" * (MAX_KEY_LENGTH + 1)])
async def test_keys_outside_1_to_255_characters_are_refused(org: Org, key: str) -> None:
    with pytest.raises(CapabilityError, match="storage keys are strings of 1 to 255"):
        await org.set(key, 1)
    with pytest.raises(CapabilityError, match="storage keys are strings of 1 to 255"):
        await org.get(key)
    with pytest.raises(CapabilityError, match="storage keys are strings of 1 to 255"):
        await org.store.broker.storage_delete(org.id, A, key)


async def test_a_key_of_255_characters_is_accepted(org: Org) -> None:
    await org.set("k" * MAX_KEY_LENGTH, 1)
    assert await org.get("k" * MAX_KEY_LENGTH) == 1


async def test_a_value_that_is_not_json_is_refused(org: Org) -> None:
    with pytest.raises(CapabilityError, match="is not JSON-serializable"):
        await org.set("k", {1, 2})
    assert await org.keys() == []


# -- storage: the quota --------------------------------------------------------------------------


async def test_a_new_key_past_max_keys_is_refused(org: Org) -> None:
    for key in ("a", "b", "c"):
        await org.set(key, 0)
    with pytest.raises(CapabilityError, match="storage quota: at most 3 keys"):
        await org.set("d", 0)
    assert await org.keys() == ["a", "b", "c"]


async def test_at_max_keys_existing_keys_can_still_change_and_a_delete_makes_room(org: Org) -> None:
    for key in ("a", "b", "c"):
        await org.set(key, 0)
    await org.set("a", 1)
    await org.store.broker.storage_delete(org.id, A, "b")
    await org.set("d", 2)
    assert await org.keys() == ["a", "c", "d"]


async def test_values_count_their_json_size_up_to_max_bytes_exactly(org: Org) -> None:
    # Encoded sizes: '"' + 48 x + '"' = 50 bytes each; keys do not count.
    await org.set("a", "x" * 48)
    await org.set("b", "x" * 48)
    with pytest.raises(CapabilityError, match="storage quota: at most 100 bytes"):
        await org.set("c", 1)
    assert await org.keys() == ["a", "b"]


async def test_replacing_a_value_counts_only_the_new_size(org: Org) -> None:
    await org.set("a", "x" * 48)  # 50
    await org.set("b", "x" * 48)  # 50: the store is full
    await org.set("b", "x" * 8)  # 10 replaces 50
    await org.set("c", "x" * 38)  # 40: 50 + 10 + 40 = 100
    assert await org.get("c") == "x" * 38


async def test_a_value_over_the_per_value_cap_is_refused(org: Org) -> None:
    with pytest.raises(CapabilityError, match="storage quota: a value is at most 60 bytes"):
        await org.set("a", "x" * 59)  # 61 encoded
    await org.set("a", "x" * 58)  # 60 encoded: at the cap
    assert await org.get("a") == "x" * 58


async def test_a_refused_write_leaves_the_old_value(org: Org) -> None:
    await org.set("a", "x" * 48)
    await org.set("b", "old")
    with pytest.raises(CapabilityError, match="storage quota"):
        await org.set("b", "x" * 58)
    assert await org.get("b") == "old"


async def test_the_quota_is_per_plugin_and_per_organization(org: Org, other_org: Org) -> None:
    for key in ("a", "b", "c"):
        await org.set(key, "x" * 30)
    with pytest.raises(CapabilityError, match="storage quota"):
        await org.set("d", 0)
    # Neither another plugin of the same organization nor the same plugin elsewhere is affected.
    for key in ("a", "b", "c"):
        await org.set(key, "x" * 30, plugin_id=B)
        await other_org.set(key, "x" * 30)


# -- storage: isolation --------------------------------------------------------------------------


async def test_plugins_of_one_organization_have_separate_stores(org: Org) -> None:
    await org.set("k", "alpha's")
    await org.set("k", "beta's", plugin_id=B)
    await org.store.broker.storage_delete(org.id, B, "k")
    assert await org.get("k") == "alpha's"
    assert await org.get("k", plugin_id=B) is None
    assert await org.keys(plugin_id=B) == []


async def test_organizations_have_separate_stores_for_the_same_plugin(
    org: Org, other_org: Org
) -> None:
    await org.set("k", "mine")
    assert await other_org.get("k") is None
    assert await other_org.keys() == []
    await other_org.set("k", "theirs")
    await other_org.store.broker.storage_delete(other_org.id, A, "k")
    assert await org.get("k") == "mine"


# -- files ---------------------------------------------------------------------------------------


async def test_the_calls_file_is_read_and_described(org: Org) -> None:
    file_id = await org.store.add_file(org.id, JPEG, filename="beach.jpg")
    call = org.call(file_id=file_id)
    assert await org.store.broker.read_file(call) == JPEG
    info = await org.store.broker.file_info(call)
    assert set(info) == {"id", "filename", "contentType", "sizeBytes", "sha256", "width", "height"}
    assert (info["id"], info["filename"], info["contentType"], info["sizeBytes"]) == (
        file_id, "beach.jpg", "image/jpeg", len(JPEG))


def _png(seed: int = 0, size: int = 8) -> bytes:
    buf = io.BytesIO()
    noise = random.Random(seed).randbytes(size * size)  # noqa: S311 - test data
    Image.frombytes("L", (size, size), noise).save(buf, format="PNG")
    return buf.getvalue()


async def test_a_derived_image_is_stored_and_described(org: Org) -> None:
    file_id = await org.store.add_file(org.id, JPEG)
    png = _png()
    out = await org.store.broker.store_derived_image(org.call(file_id=file_id), png, "image/png")
    assert out == {"sha256": hashlib.sha256(png).hexdigest(), "sizeBytes": len(png),
                   "contentType": "image/png"}


async def test_a_derived_images_type_is_identified_from_its_bytes(org: Org) -> None:
    file_id = await org.store.add_file(org.id, JPEG)
    call = org.call(file_id=file_id)
    out = await org.store.broker.store_derived_image(call, _png(), "image/jpeg")  # a false claim
    assert out["contentType"] == "image/png"
    for payload in (b"<html><script>alert(1)</script></html>", b"\x89PNG\r\n\x1a\n broken",
                    b"%PDF-1.7 not an image"):
        with pytest.raises(CapabilityError, match="must be an image"):
            await org.store.broker.store_derived_image(org.call(file_id=await org.store.add_file(
                org.id, JPEG)), payload, "image/png")
    ico = io.BytesIO()
    Image.new("RGB", (16, 16)).save(ico, format="ICO")  # an image, not a format uploads take
    with pytest.raises(CapabilityError, match="format ICO is not accepted"):
        await org.store.broker.store_derived_image(
            org.call(file_id=await org.store.add_file(org.id, JPEG)), ico.getvalue(), "image/png")


async def test_derived_images_have_a_per_call_and_a_per_file_budget(org: Org) -> None:
    broker = org.store.broker
    big = _png(1, 70)  # over the per-call cap, incompressible noise
    assert len(big) > DERIVED.max_image_bytes
    file_id = await org.store.add_file(org.id, JPEG)
    with pytest.raises(CapabilityError, match=f"at most {DERIVED.max_image_bytes} bytes"):
        await broker.store_derived_image(org.call(file_id=file_id), big, "image/png")
    # Per file: the images' count, then their bytes together.
    for seed in range(DERIVED.max_file_images):
        await broker.store_derived_image(org.call(file_id=file_id), _png(seed), "image/png")
    with pytest.raises(CapabilityError, match=f"at most {DERIVED.max_file_images} images"):
        await broker.store_derived_image(org.call(file_id=file_id), _png(9), "image/png")
    other = await org.store.add_file(org.id, JPEG)
    mid = _png(2, 55)
    assert DERIVED.max_file_bytes / 2 < len(mid) <= DERIVED.max_image_bytes
    await broker.store_derived_image(org.call(B, other), mid, "image/png")
    with pytest.raises(CapabilityError, match=f"at most {DERIVED.max_file_bytes} bytes per file"):
        await broker.store_derived_image(org.call(A, other), _png(3, 55), "image/png")


async def test_a_call_about_no_file_gets_no_file(org: Org) -> None:
    broker, call = org.store.broker, org.call()
    for use in (broker.read_file(call), broker.file_info(call), broker.metadata_get(call),
                broker.metadata_set(call, {"k": 1}),
                broker.store_derived_image(call, b"x", "image/png")):
        with pytest.raises(CapabilityError, match="not about a file"):
            await use


async def test_another_organizations_file_is_not_found(org: Org, other_org: Org) -> None:
    theirs = await other_org.store.add_file(other_org.id, JPEG, exif={"gps": [52.0, 4.0]})
    broker, call = org.store.broker, org.call(file_id=theirs)
    for use in (broker.read_file(call), broker.file_info(call), broker.metadata_get(call),
                broker.metadata_set(call, {"k": 1}),
                broker.store_derived_image(call, b"x", "image/png")):
        with pytest.raises(CapabilityError, match="file not found"):
            await use
    assert "plugins" not in await broker.metadata_get(other_org.call(file_id=theirs))


async def test_an_unknown_file_is_not_found(org: Org) -> None:
    with pytest.raises(CapabilityError, match="file not found"):
        await org.store.broker.read_file(org.call(file_id=str(uuid.uuid4())))


# -- metadata ------------------------------------------------------------------------------------


async def test_metadata_of_a_fresh_file_is_the_hosts_exif(org: Org) -> None:
    exif = {"camera": "Acme Cam 1", "gps": [52.5, 13.4]}
    file_id = await org.store.add_file(org.id, JPEG, exif=exif)
    assert await org.store.broker.metadata_get(org.call(file_id=file_id)) == {"exif": exif}
    bare = await org.store.add_file(org.id, JPEG)
    assert await org.store.broker.metadata_get(org.call(file_id=bare)) == {"exif": {}}


async def test_metadata_writes_land_in_the_plugins_own_namespace(org: Org) -> None:
    exif = {"camera": "Acme Cam 1"}
    file_id = await org.store.add_file(org.id, JPEG, exif=exif)
    broker = org.store.broker
    await broker.metadata_set(org.call(A, file_id), {"label": "beach", "exif": "mine"})
    await broker.metadata_set(org.call(B, file_id), {"label": "sea"})
    await broker.metadata_set(org.call(A, file_id), {"score": 0.9})  # merges into A's
    assert await broker.metadata_get(org.call(B, file_id)) == {
        "exif": exif,  # the host's record: no plugin writes over it
        "plugins": {A: {"label": "beach", "exif": "mine", "score": 0.9}, B: {"label": "sea"}},
    }


async def test_metadata_must_be_an_object_within_the_cap(org: Org) -> None:
    file_id = await org.store.add_file(org.id, JPEG)
    call = org.call(file_id=file_id)
    with pytest.raises(CapabilityError, match="metadata must be an object"):
        await org.store.broker.metadata_set(call, ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(CapabilityError, match=f"metadata larger than {MAX_METADATA_BYTES} bytes"):
        await org.store.broker.metadata_set(call, {"k": "x" * MAX_METADATA_BYTES})
    assert await org.store.broker.metadata_get(call) == {"exif": {}}


async def test_the_cap_applies_to_what_a_plugin_keeps_per_file_not_only_per_call(
    org: Org,
) -> None:
    file_id = await org.store.add_file(org.id, JPEG)
    broker, call = org.store.broker, org.call(A, file_id)
    half = MAX_METADATA_BYTES // 2
    await broker.metadata_set(call, {"one": "x" * half})
    with pytest.raises(CapabilityError, match=f"larger than {MAX_METADATA_BYTES} bytes"):
        await broker.metadata_set(call, {"two": "x" * half})  # under the cap by itself
    # Refused whole: the stored values are unchanged, and replacing a key counts its new size.
    assert await broker.metadata_get(call) == {"exif": {}, "plugins": {A: {"one": "x" * half}}}
    await broker.metadata_set(call, {"one": "short", "two": "x" * half})
    # The cap is per plugin: another plugin keeps its own up to the cap on the same file.
    await broker.metadata_set(org.call(B, file_id), {"one": "x" * half})


async def test_plugins_writing_metadata_in_parallel_lose_nothing(org: Org) -> None:
    """Analyzers run in parallel (``file:uploaded``): every plugin's writes survive, and so do
    every one of one plugin's own concurrent writes."""
    file_id = await org.store.add_file(org.id, JPEG)
    broker = org.store.broker
    plugins = [f"acme.p{i}" for i in range(8)]
    for _ in range(3):
        await asyncio.gather(*(
            broker.metadata_set(org.call(p, file_id), {f"k{r}": r, "by": p})
            for r in range(3) for p in plugins
        ))
    stored = (await broker.metadata_get(org.call(file_id=file_id)))["plugins"]
    assert stored == {p: {"k0": 0, "k1": 1, "k2": 2, "by": p} for p in plugins}


# -- events --------------------------------------------------------------------------------------


async def test_emitted_events_are_recorded_for_the_calling_plugin(org: Org, other_org: Org) -> None:
    await org.store.broker.emit_event(org.call(A), "acme:done", {"n": 1})
    assert await org.store.events(org.id, A, "custom") == [
        {"name": "acme:done", "data": {"n": 1}}]
    assert await org.store.events(org.id, B, "custom") == []
    assert await org.store.events(other_org.id, A, "custom") == []


async def test_runtime_events_are_recorded_with_their_details(org: Org) -> None:
    await org.store.broker.record_event(org.id, A, "permission_denied",
                                        {"permission": "http", "capability": "http.request"})
    assert await org.store.events(org.id, A, "permission_denied") == [
        {"permission": "http", "capability": "http.request"}]
