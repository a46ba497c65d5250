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

Interrupted pipelines: a file is ``processing`` while its hooks run, with ``processing_owner``
naming the process (host, pid, start time); ``complete`` once its results are recorded. A
pipeline that fails, or whose process dies (SIGKILL, OOM), leaves the file ``incomplete``: the
first by its own ``except``, the second at the next start of a process on the same host
(``recover_interrupted``), which finds the owner gone. Nothing re-runs by itself: a plugin that
crashed the server would crash it again at every start, and plugins with side effects (a
webhook, a counter) would repeat them unasked. ``reprocess`` runs the pipeline again on request
(``POST /api/files/{id}/reprocess``), replacing the file's results.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Conflict, FieldError, NotFound
from proofpix_plugins.files.hooks import HookRunner
from proofpix_plugins.files.images import CONTENT_TYPES, inspect_image
from proofpix_plugins.files.repository import FileRepository
from proofpix_plugins.files.schemas import FileOut, FilePluginResultOut
from proofpix_plugins.files.work import FileWork
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.models.files import File, FilePluginResult, FileStatus
from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import HookResult
from proofpix_plugins.storage.blobstore import BlobRef, BlobStore
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
        *,
        owner: str,
    ) -> None:
        self._sf = session_factory
        self._blobs = blobs
        self._hooks = hooks
        self._work = work
        #: ``<host>/<process instance>``: written on the files whose pipeline this process runs.
        self._owner = owner

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
                exif=info.exif, status=FileStatus.processing, processing_owner=self._owner,
            )
            repo.add(row)
            await session.flush()
        await self._run_pipeline(org_id, row, ref)
        return await self.get(org_id, str(row.id))

    async def reprocess(self, org_id: uuid.UUID, file_id: str) -> FileOut:
        """Run the file's hooks again from its original bytes, replacing its results."""
        fid = _file_id(file_id)
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            row = await repo.get(org_id, fid)
            if row is None:
                raise NotFound("file not found")
            if not await repo.claim(org_id, fid, self._owner):
                raise Conflict(
                    "the file's plugins are running; reprocess it once they finish",
                    errors=(FieldError("status", "is processing", "in-progress", "processing"),),
                )
            await repo.delete_results(fid)
            row.processed_sha256 = None
        await self._run_pipeline(org_id, row, BlobRef(row.sha256, row.size_bytes))
        return await self.get(org_id, file_id)

    async def _run_pipeline(self, org_id: uuid.UUID, row: File, ref: BlobRef) -> None:
        file_id = str(row.id)
        event = {
            "fileId": file_id, "filename": row.filename, "contentType": row.content_type,
            "sizeBytes": ref.size, "width": row.width, "height": row.height,
            "exif": row.exif or {},
        }
        results: list[tuple[HookResult, str]] = []
        self._work.begin(file_id, ref)
        try:
            for hook, options in (("file:uploaded", None), ("metadata:extracted", None),
                                  ("file:process", _WATERFALL)):
                outcome = await self._hooks.execute_hook(
                    org_id, hook, event, options, file_id=file_id)
                results.append((outcome, hook))
            final = self._work.end(file_id)
            await self._record(org_id, row.id, ref, final, results)
        except BaseException:
            self._work.end(file_id)
            # Shielded: a cancelled request still leaves the file marked, not "processing".
            await asyncio.shield(self._mark_incomplete([row.id]))
            raise

    async def _record(
        self, org_id: uuid.UUID, fid: uuid.UUID, ref: BlobRef, final: BlobRef | None,
        results: list[tuple[HookResult, str]],
    ) -> None:
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            fresh = await repo.get(org_id, fid)
            if fresh is None:  # deleted with its organization while the hooks ran
                return
            if final is not None and final.sha256 != ref.sha256:
                fresh.processed_sha256 = final.sha256
                await repo.ensure_blob(final.sha256, final.size)
            for outcome, hook in results:
                for r in outcome.results:
                    repo.add(FilePluginResult(
                        file_id=fid, organization_id=org_id, hook_name=hook,
                        plugin_id=r.plugin_id, status=r.status, duration_ms=r.duration_ms,
                        result=_bounded(r.result) if r.status == "ok" else None,
                        error=r.error_text(2000) if r.status != "ok" else None,
                    ))
            fresh.status = FileStatus.complete
            fresh.processing_owner = None

    async def _mark_incomplete(self, file_ids: list[uuid.UUID]) -> None:
        async with session_scope(self._sf) as session:
            await FileRepository(session).mark_incomplete(file_ids, self._owner)

    async def recover_interrupted(self, alive: Callable[[str], bool]) -> int:
        """Mark ``incomplete`` the files whose pipeline ran in a process of this host that died.

        ``alive`` says whether a process instance still runs. Files of other hosts are left to
        a process starting there: whether their owner lives is not visible from here.
        """
        host = self._owner.partition("/")[0]
        async with session_scope(self._sf) as session:
            running = await FileRepository(session).processing_owners()
        dead: dict[str | None, list[uuid.UUID]] = {}
        for fid, owner in running:
            owner_host, _, instance = (owner or "").partition("/")
            if owner is None or (owner_host == host and not alive(instance)):
                dead.setdefault(owner, []).append(fid)
        marked = 0
        for owner, ids in dead.items():
            async with session_scope(self._sf) as session:
                marked += await FileRepository(session).mark_incomplete(ids, owner)
        return marked

    async def get(self, org_id: uuid.UUID, file_id: str) -> FileOut:
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            row = await repo.get(org_id, _file_id(file_id))
            if row is None:
                raise NotFound("file not found")
            results = await repo.results_of(row.id)
            plugins = await repo.plugin_metadata(row.id)
        return FileOut(
            id=str(row.id), filename=row.filename, content_type=row.content_type,
            size_bytes=row.size_bytes, sha256=row.sha256, processed_sha256=row.processed_sha256,
            status=row.status.value,
            width=row.width, height=row.height, exif=row.exif or {},
            metadata={"plugins": plugins} if plugins else {},
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
