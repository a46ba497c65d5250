"""A real, in-memory :class:`~proofpix_plugins.runtime.host.broker.Broker`.

Used by the runtime's tests, the red-team suite and the benchmarks. It keeps the promises the
database broker keeps (tests/runtime/test_broker_contract.py runs both): files belong to an
organization, metadata writes land in the plugin's own namespace, and storage obeys the one
:class:`~proofpix_plugins.runtime.host.quota.StorageQuota` policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from proofpix_plugins.runtime.errors import CapabilityError
from proofpix_plugins.runtime.host.derived import DerivedImageBudget, identify_image
from proofpix_plugins.runtime.host.quota import StorageQuota, check_metadata, merge_metadata
from proofpix_plugins.runtime.spec import CallInfo


@dataclass(frozen=True)
class StoredFile:
    org_id: str
    data: bytes
    content_type: str = "image/jpeg"
    filename: str = "photo.jpg"
    #: What the host read from the upload; plugins see it as ``metadata.get()["exif"]``.
    exif: dict[str, Any] | None = None


@dataclass(frozen=True)
class RecordedEvent:
    org_id: str
    plugin_id: str
    event_type: str
    details: dict[str, Any]
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class EmittedEvent:
    org_id: str
    plugin_id: str
    file_id: str | None
    name: str
    data: Any


@dataclass(frozen=True)
class DerivedImage:
    org_id: str
    plugin_id: str
    source_file_id: str | None
    data: bytes
    content_type: str
    sha256: str


class MemoryBroker:
    """Files, metadata, storage and events kept in dicts; quotas per (org, plugin)."""

    def __init__(
        self, quota: StorageQuota | None = None, derived: DerivedImageBudget | None = None
    ) -> None:
        self.quota = quota or StorageQuota()
        self.derived_budget = derived or DerivedImageBudget()
        #: Per file: bytes and images of derived images charged (attempts included).
        self.derived_spent: dict[str, tuple[int, int]] = {}
        self.files: dict[str, StoredFile] = {}
        #: Per file, what plugins wrote: ``{"plugins": {plugin id: {...}}}`` (the host's record).
        self.metadata: dict[str, dict[str, Any]] = {}
        #: Per (org, plugin), each key's JSON-encoded value.
        self.storage: dict[tuple[str, str], dict[str, bytes]] = {}
        self.events: list[RecordedEvent] = []
        self.emitted: list[EmittedEvent] = []
        self.derived: list[DerivedImage] = []

    # -- test helpers -------------------------------------------------------------------------

    def add_file(
        self,
        org_id: str,
        file_id: str,
        data: bytes,
        content_type: str = "image/jpeg",
        filename: str = "photo.jpg",
        *,
        exif: dict[str, Any] | None = None,
    ) -> None:
        self.files[file_id] = StoredFile(org_id, data, content_type, filename, exif)

    def events_of(self, plugin_id: str, event_type: str | None = None) -> list[RecordedEvent]:
        return [
            e
            for e in self.events
            if e.plugin_id == plugin_id and (event_type is None or e.event_type == event_type)
        ]

    def storage_bytes(self, org_id: str, plugin_id: str) -> int:
        """What counts against the quota: the encoded values (keys do not count)."""
        return sum(len(v) for v in self.storage.get((org_id, plugin_id), {}).values())

    # -- Broker -------------------------------------------------------------------------------

    def _file(self, call: CallInfo) -> StoredFile:
        if call.file_id is None:
            raise CapabilityError("this hook call is not about a file")
        stored = self.files.get(call.file_id)
        # Another organization's file is as absent as a file that never existed.
        if stored is None or stored.org_id != call.org_id:
            raise CapabilityError("file not found")
        return stored

    async def read_file(self, call: CallInfo) -> bytes:
        return self._file(call).data

    async def file_info(self, call: CallInfo) -> dict[str, Any]:
        stored = self._file(call)
        return {
            "id": call.file_id,
            "filename": stored.filename,
            "contentType": stored.content_type,
            "sizeBytes": len(stored.data),
            "sha256": hashlib.sha256(stored.data).hexdigest(),
            "width": None,  # the database broker knows them from the upload; nothing here does
            "height": None,
        }

    async def store_derived_image(
        self, call: CallInfo, data: bytes, content_type: str
    ) -> dict[str, Any]:
        self._file(call)
        assert call.file_id is not None
        # Here a file's "run" is its life in the broker: every derived image of it counts.
        spent_bytes, spent_images = self.derived_spent.get(call.file_id, (0, 0))
        self.derived_budget.admit(spent_bytes=spent_bytes, spent_images=spent_images,
                                  new_bytes=len(data))
        self.derived_spent[call.file_id] = (spent_bytes + len(data), spent_images + 1)
        identified = await asyncio.to_thread(identify_image, data)
        digest = hashlib.sha256(data).hexdigest()
        self.derived.append(
            DerivedImage(call.org_id, call.plugin_id, call.file_id, data, identified, digest)
        )
        return {"sha256": digest, "sizeBytes": len(data), "contentType": identified}

    async def metadata_get(self, call: CallInfo) -> dict[str, Any]:
        stored = self._file(call)
        assert call.file_id is not None
        meta = orjson.loads(orjson.dumps(self.metadata.get(call.file_id, {})))  # a deep copy
        return {"exif": dict(stored.exif or {}), **meta}

    async def metadata_set(self, call: CallInfo, values: dict[str, Any]) -> None:
        check_metadata(values)
        self._file(call)
        assert call.file_id is not None
        stored = self.metadata.get(call.file_id, {}).get("plugins", {}).get(call.plugin_id, {})
        merged, _ = merge_metadata(stored, values)  # refused before anything changes
        # Each plugin writes its own namespace: one plugin cannot overwrite another's.
        plugins = self.metadata.setdefault(call.file_id, {}).setdefault("plugins", {})
        plugins[call.plugin_id] = merged

    async def storage_get(self, org_id: str, plugin_id: str, key: str) -> Any | None:
        self.quota.check_key(key)
        raw = self.storage.get((org_id, plugin_id), {}).get(key)
        return None if raw is None else orjson.loads(raw)

    async def storage_set(self, org_id: str, plugin_id: str, key: str, value: Any) -> None:
        raw = self.quota.encode(key, value)
        bucket = self.storage.get((org_id, plugin_id), {})
        old = bucket.get(key)
        self.quota.admit(keys=len(bucket), used_bytes=self.storage_bytes(org_id, plugin_id),
                         old_bytes=None if old is None else len(old), new_bytes=len(raw))
        self.storage.setdefault((org_id, plugin_id), {})[key] = raw

    async def storage_delete(self, org_id: str, plugin_id: str, key: str) -> None:
        self.quota.check_key(key)
        self.storage.get((org_id, plugin_id), {}).pop(key, None)

    async def storage_keys(self, org_id: str, plugin_id: str) -> list[str]:
        return sorted(self.storage.get((org_id, plugin_id), {}))

    async def emit_event(self, call: CallInfo, name: str, data: Any) -> None:
        self.emitted.append(EmittedEvent(call.org_id, call.plugin_id, call.file_id, name, data))

    async def record_event(
        self, org_id: str, plugin_id: str, event_type: str, details: dict[str, Any]
    ) -> None:
        self.events.append(RecordedEvent(org_id, plugin_id, event_type, dict(details)))
