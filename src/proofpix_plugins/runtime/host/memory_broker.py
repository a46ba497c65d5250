"""A real, in-memory :class:`~proofpix_plugins.runtime.host.broker.Broker`.

Used by the runtime's tests, the red-team suite and the benchmarks. Storage quotas are enforced
exactly as a production broker must: the size of a value is the length of its JSON encoding.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from proofpix_plugins.runtime.errors import CapabilityError
from proofpix_plugins.runtime.spec import CallInfo


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    content_type: str = "image/jpeg"
    name: str = "photo.jpg"


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

    def __init__(self, *, storage_max_bytes: int = 1024 * 1024, storage_max_keys: int = 1000):
        self.storage_max_bytes = storage_max_bytes
        self.storage_max_keys = storage_max_keys
        self.files: dict[str, StoredFile] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.storage: dict[tuple[str, str], dict[str, bytes]] = {}
        self.events: list[RecordedEvent] = []
        self.emitted: list[EmittedEvent] = []
        self.derived: list[DerivedImage] = []

    # -- test helpers -------------------------------------------------------------------------

    def add_file(
        self, file_id: str, data: bytes, content_type: str = "image/jpeg", name: str = "photo.jpg"
    ) -> None:
        self.files[file_id] = StoredFile(data, content_type, name)

    def events_of(self, plugin_id: str, event_type: str | None = None) -> list[RecordedEvent]:
        return [
            e
            for e in self.events
            if e.plugin_id == plugin_id and (event_type is None or e.event_type == event_type)
        ]

    def storage_bytes(self, org_id: str, plugin_id: str) -> int:
        return sum(len(k) + len(v) for k, v in self.storage.get((org_id, plugin_id), {}).items())

    # -- Broker -------------------------------------------------------------------------------

    def _file(self, call: CallInfo) -> StoredFile:
        if call.file_id is None:
            raise CapabilityError("this hook call is not about a file")
        stored = self.files.get(call.file_id)
        if stored is None:
            raise CapabilityError(f"file {call.file_id!r} does not exist")
        return stored

    async def read_file(self, call: CallInfo) -> bytes:
        return self._file(call).data

    async def file_info(self, call: CallInfo) -> dict[str, Any]:
        stored = self._file(call)
        return {
            "id": call.file_id,
            "name": stored.name,
            "contentType": stored.content_type,
            "size": len(stored.data),
            "sha256": hashlib.sha256(stored.data).hexdigest(),
        }

    async def store_derived_image(
        self, call: CallInfo, data: bytes, content_type: str
    ) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        self.derived.append(
            DerivedImage(call.org_id, call.plugin_id, call.file_id, data, content_type, digest)
        )
        return {"sha256": digest, "size": len(data), "contentType": content_type}

    async def metadata_get(self, call: CallInfo) -> dict[str, Any]:
        self._file(call)
        assert call.file_id is not None
        return dict(self.metadata.get(call.file_id, {}))

    async def metadata_set(self, call: CallInfo, values: dict[str, Any]) -> None:
        self._file(call)
        assert call.file_id is not None
        self.metadata.setdefault(call.file_id, {}).update(values)

    async def storage_get(self, org_id: str, plugin_id: str, key: str) -> Any | None:
        raw = self.storage.get((org_id, plugin_id), {}).get(key)
        return None if raw is None else orjson.loads(raw)

    async def storage_set(self, org_id: str, plugin_id: str, key: str, value: Any) -> None:
        try:
            raw = orjson.dumps(value)
        except TypeError as exc:
            raise CapabilityError(f"storage value for {key!r} is not JSON: {exc}") from None
        bucket = self.storage.setdefault((org_id, plugin_id), {})
        if key not in bucket and len(bucket) >= self.storage_max_keys:
            raise CapabilityError(f"storage quota: at most {self.storage_max_keys} keys")
        used = self.storage_bytes(org_id, plugin_id)
        old = len(key) + len(bucket[key]) if key in bucket else 0
        if used - old + len(key) + len(raw) > self.storage_max_bytes:
            raise CapabilityError(f"storage quota: at most {self.storage_max_bytes} bytes")
        bucket[key] = raw

    async def storage_delete(self, org_id: str, plugin_id: str, key: str) -> None:
        self.storage.get((org_id, plugin_id), {}).pop(key, None)

    async def storage_keys(self, org_id: str, plugin_id: str) -> list[str]:
        return sorted(self.storage.get((org_id, plugin_id), {}))

    async def emit_event(self, call: CallInfo, name: str, data: Any) -> None:
        self.emitted.append(EmittedEvent(call.org_id, call.plugin_id, call.file_id, name, data))

    async def record_event(
        self, org_id: str, plugin_id: str, event_type: str, details: dict[str, Any]
    ) -> None:
        self.events.append(RecordedEvent(org_id, plugin_id, event_type, dict(details)))
