"""The host pipeline: a photo is uploaded, decoded, stored, and the plugins get to work.

Order: ``file:uploaded`` (parallel; analyzers), ``metadata:extracted`` (parallel; the EXIF the
host read), then ``file:process`` (waterfall; a processor may return a derived image that the
next processor reads). Every plugin's outcome is stored with the file.

Transactions: this service owns them (``session_scope`` per step), not the request, by the rule
in docs/architecture.md. An upload spans disk and database (the blob is stored before its row),
and its file row must be committed before the hooks run, because the plugins' capability calls
(``DbBroker``) read and write it in transactions of their own; the results are recorded in a
second transaction after the hooks, so no transaction stays open while plugins work. The reads
use the same short scopes, so no pooled connection is held while a blob's bytes are read and
sent, and the routes take no request session.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from functools import partial
from typing import Any

import orjson
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import NotFound
from proofpix_plugins.files.hooks import HookRunner
from proofpix_plugins.files.images import CONTENT_TYPES, inspect_image
from proofpix_plugins.files.repository import FileRepository
from proofpix_plugins.files.schemas import FileOut, FilePluginResultOut
from proofpix_plugins.files.work import FileWork
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.models.files import File, FilePluginResult
from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import HookResult
from proofpix_plugins.storage.blobstore import BlobStore
from proofpix_plugins.storage.uploads import SpooledUpload

MAX_RESULT_BYTES = 64 * 1024
_WATERFALL = HookOptions(mode="waterfall")


def _bounded(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    value = result if isinstance(result, dict) else {"value": result}
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        return {"note": "result was not JSON-serializable"}
    if len(encoded) > MAX_RESULT_BYTES:
        return {"note": f"result larger than {MAX_RESULT_BYTES} bytes was not stored"}
    return value


# A malformed file id in a URL names no file.
_file_id = partial(as_uuid, error=NotFound, message="file not found")


class FileService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        hooks: HookRunner,
        work: FileWork,
    ) -> None:
        self._sf = session_factory
        self._blobs = blobs
        self._hooks = hooks
        self._work = work

    async def upload(
        self, org_id: uuid.UUID, user_id: uuid.UUID | None, upload: SpooledUpload
    ) -> FileOut:
        info = await asyncio.to_thread(inspect_image, upload.path)
        ref = await self._blobs.put_file(upload.path)
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            await repo.ensure_blob(ref.sha256, ref.size)
            row = File(
                organization_id=org_id, uploaded_by=user_id,
                filename=upload.filename or "upload", content_type=info.content_type,
                size_bytes=ref.size, sha256=ref.sha256, width=info.width, height=info.height,
                exif=info.exif, meta={},
            )
            repo.add(row)
            await session.flush()
            file_id = str(row.id)
        event = {
            "fileId": file_id, "filename": row.filename, "contentType": info.content_type,
            "sizeBytes": ref.size, "width": info.width, "height": info.height,
            "exif": info.exif,
        }
        results: list[tuple[HookResult, str]] = []
        self._work.begin(file_id, ref)
        try:
            for hook, options in (("file:uploaded", None), ("metadata:extracted", None),
                                  ("file:process", _WATERFALL)):
                outcome = await self._hooks.execute_hook(
                    org_id, hook, event, options, file_id=file_id)
                results.append((outcome, hook))
        finally:
            final = self._work.end(file_id)
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            fresh = await repo.get(org_id, row.id)
            assert fresh is not None
            if final is not None and final.sha256 != ref.sha256:
                fresh.processed_sha256 = final.sha256
                await repo.ensure_blob(final.sha256, final.size)
            for outcome, hook in results:
                for r in outcome.results:
                    repo.add(FilePluginResult(
                        file_id=row.id, organization_id=org_id, hook_name=hook,
                        plugin_id=r.plugin_id, status=r.status, duration_ms=r.duration_ms,
                        result=_bounded(r.result) if r.status == "ok" else None,
                        error=(r.error or r.status)[:2000] if r.status != "ok" else None,
                    ))
        return await self.get(org_id, file_id)

    async def get(self, org_id: uuid.UUID, file_id: str) -> FileOut:
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            row = await repo.get(org_id, _file_id(file_id))
            if row is None:
                raise NotFound("file not found")
            results = await repo.results_of(row.id)
        return FileOut(
            id=str(row.id), filename=row.filename, content_type=row.content_type,
            size_bytes=row.size_bytes, sha256=row.sha256, processed_sha256=row.processed_sha256,
            width=row.width, height=row.height, exif=row.exif or {}, metadata=row.meta or {},
            created_at=row.created_at,
            plugin_results=[
                FilePluginResultOut(hook=r.hook_name, plugin_id=r.plugin_id, status=r.status,
                                duration_ms=r.duration_ms, result=r.result, error=r.error)
                for r in results
            ],
        )

    async def content(self, org_id: uuid.UUID, file_id: str, variant: str) -> tuple[bytes, str]:
        async with session_scope(self._sf) as session:
            row = await FileRepository(session).get(org_id, _file_id(file_id))
        if row is None:
            raise NotFound("file not found")
        if variant == "processed":
            if row.processed_sha256 is None:
                raise NotFound("no plugin produced a processed variant of this file")
            data = await self._blobs.get_bytes(row.processed_sha256)
            # A processor's output is re-detected, never trusted by its claim.
            ctype = await asyncio.to_thread(_sniff, data)
            return data, ctype
        return await self._blobs.get_bytes(row.sha256), row.content_type


def _sniff(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return CONTENT_TYPES.get(img.format or "", "application/octet-stream")
    except Exception:
        return "application/octet-stream"
