"""The runtime's ``Broker`` over the database and the blob store.

The runtime has already checked the plugin's permission when a method here runs; this layer
scopes every access to the calling plugin's organization (a plugin can name neither another
organization nor another plugin's storage), enforces quotas and does the I/O, each operation in
its own short transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.files.repository import FileRepository
from proofpix_plugins.files.work import FileWork
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.files import File
from proofpix_plugins.models.plugins import PluginStorage
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.events import add_event, event_wire
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.runtime.errors import CapabilityError
from proofpix_plugins.runtime.host.derived import DerivedImageBudget, identify_image
from proofpix_plugins.runtime.host.quota import StorageQuota, check_metadata, merge_metadata
from proofpix_plugins.runtime.spec import CallInfo
from proofpix_plugins.storage.blobstore import BlobStore

log = structlog.get_logger(__name__)

MAX_EVENT_BYTES = 16 * 1024


# A malformed id in a plugin's call is the plugin's error, answered as a capability error.
_uuid = partial(as_uuid, error=CapabilityError)


def _encoded_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:
        raise CapabilityError("value is not JSON-serializable") from None


class DbBroker:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        hub: EventHub,
        work: FileWork,
        quota: StorageQuota | None = None,
        derived: DerivedImageBudget | None = None,
        on_security_event: Callable[[str, str, str, dict[str, Any]], Awaitable[None]]
        | None = None,
    ) -> None:
        self._sf = session_factory
        self._blobs = blobs
        self._hub = hub
        self._work = work
        self.quota = quota or StorageQuota()
        self.derived = derived or DerivedImageBudget()
        self._on_security_event = on_security_event

    # files ---------------------------------------------------------------------
    async def _file(self, session: AsyncSession, call: CallInfo) -> File:
        if call.file_id is None:
            raise CapabilityError("this hook call is not about a file")
        row = await session.get(File, _uuid(call.file_id))
        if row is None or row.organization_id != _uuid(call.org_id):
            raise CapabilityError("file not found")
        return row

    async def read_file(self, call: CallInfo) -> bytes:
        async with session_scope(self._sf) as session:
            row = await self._file(session, call)
        sha = self._work.current(str(row.id)) or row.processed_sha256 or row.sha256
        return await self._blobs.get_bytes(sha)

    async def file_info(self, call: CallInfo) -> dict[str, Any]:
        async with session_scope(self._sf) as session:
            row = await self._file(session, call)
        return {
            "id": str(row.id),
            "filename": row.filename,
            "contentType": row.content_type,
            "sizeBytes": row.size_bytes,
            "sha256": row.sha256,
            "width": row.width,
            "height": row.height,
        }

    async def store_derived_image(
        self, call: CallInfo, data: bytes, content_type: str
    ) -> dict[str, Any]:
        async with session_scope(self._sf) as session:
            row = await self._file(session, call)
        file_id = str(row.id)
        spent = self._work.spent(file_id)
        if spent is None:
            raise CapabilityError("derived images are stored only while the file's hooks run")
        self.derived.admit(spent_bytes=spent[0], spent_images=spent[1], new_bytes=len(data))
        self._work.charge(file_id, len(data))  # before any await: parallel calls see it
        # The claimed type is ignored: the bytes are identified (off the event loop).
        identified = await asyncio.to_thread(identify_image, data)
        ref = await self._blobs.put_bytes(data)
        self._work.advance(file_id, ref)
        return {"sha256": ref.sha256, "sizeBytes": ref.size, "contentType": identified}

    async def metadata_get(self, call: CallInfo) -> dict[str, Any]:
        async with session_scope(self._sf) as session:
            row = await self._file(session, call)
            plugins = await FileRepository(session).plugin_metadata(row.id)
        return {"exif": row.exif or {}, **({"plugins": plugins} if plugins else {})}

    async def metadata_set(self, call: CallInfo, values: dict[str, Any]) -> None:
        check_metadata(values)
        async with session_scope(self._sf) as session:
            row = await self._file(session, call)
            repo = FileRepository(session)
            # Each plugin writes its own row: analyzers running in parallel never overwrite
            # each other, and the read-merge-write of one plugin's row holds its lock.
            stored = await repo.lock_plugin_metadata(row.organization_id, row.id, call.plugin_id)
            merged, size = merge_metadata(stored, values)
            await repo.store_plugin_metadata(row.id, call.plugin_id, merged, size)

    # storage -------------------------------------------------------------------
    async def storage_get(self, org_id: str, plugin_id: str, key: str) -> Any | None:
        self.quota.check_key(key)
        async with session_scope(self._sf) as session:
            row = await PluginRepository(session).storage_get(_uuid(org_id), plugin_id, key)
            return None if row is None else row.value

    async def storage_set(self, org_id: str, plugin_id: str, key: str, value: Any) -> None:
        size = len(self.quota.encode(key, value))
        org = _uuid(org_id)
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            row = await repo.storage_get(org, plugin_id, key)
            keys, total = await repo.storage_usage(org, plugin_id)
            self.quota.admit(keys=keys, used_bytes=total,
                             old_bytes=row.size_bytes if row is not None else None, new_bytes=size)
            if row is None:
                session.add(
                    PluginStorage(
                        organization_id=org, plugin_id=plugin_id, key=key, value=value,
                        size_bytes=size, updated_at=utcnow(),
                    )
                )
            else:
                row.value = value
                row.size_bytes = size

    async def storage_delete(self, org_id: str, plugin_id: str, key: str) -> None:
        self.quota.check_key(key)
        async with session_scope(self._sf) as session:
            await PluginRepository(session).storage_delete(_uuid(org_id), plugin_id, key)

    async def storage_keys(self, org_id: str, plugin_id: str) -> list[str]:
        async with session_scope(self._sf) as session:
            return await PluginRepository(session).storage_keys(_uuid(org_id), plugin_id)

    # events --------------------------------------------------------------------
    async def emit_event(self, call: CallInfo, name: str, data: Any) -> None:
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise CapabilityError("event names are strings of 1 to 100 characters")
        if _encoded_size(data) > MAX_EVENT_BYTES:
            raise CapabilityError(f"event data larger than {MAX_EVENT_BYTES} bytes")
        await self._record(call.org_id, call.plugin_id, "custom", {"name": name, "data": data})

    async def record_event(
        self, org_id: str, plugin_id: str, event_type: str, details: dict[str, Any]
    ) -> None:
        await self._record(org_id, plugin_id, event_type, details)
        if self._on_security_event is not None:
            await self._on_security_event(org_id, plugin_id, event_type, details)

    async def _record(
        self, org_id: str, plugin_id: str, event_type: str, details: dict[str, Any]
    ) -> None:
        org = _uuid(org_id)
        async with session_scope(self._sf) as session:
            row_id = await PluginRepository(session).row_id(org, plugin_id)
            row = add_event(
                session, org, plugin_id, event_type, plugin_row_id=row_id, details=details
            )
            await session.flush()
            wire = event_wire(row)
        try:
            await self._hub.publish(org_id, wire)
        except Exception:  # a dead Redis must not fail a plugin call
            log.warning("event_hub.publish_failed", event_type=event_type, plugin=plugin_id)
