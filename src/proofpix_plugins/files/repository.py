"""Queries of the photo pipeline; every read is scoped by organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from proofpix_plugins.kit.upsert import insert_for
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.files import (
    Blob,
    File,
    FilePluginMetadata,
    FilePluginResult,
    FileStatus,
)


class FileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, org_id: uuid.UUID, file_id: uuid.UUID, *, results: bool = False
                  ) -> File | None:
        stmt = select(File).where(File.organization_id == org_id, File.id == file_id)
        if results:
            stmt = stmt.options(selectinload(File.results))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def ensure_blob(self, sha256: str, size: int) -> None:
        if await self.session.get(Blob, sha256) is None:
            self.session.add(Blob(sha256=sha256, size_bytes=size))

    def add(self, row: File | FilePluginResult) -> None:
        self.session.add(row)

    async def results_of(self, file_id: uuid.UUID) -> list[FilePluginResult]:
        stmt = (
            select(FilePluginResult)
            .where(FilePluginResult.file_id == file_id)
            .order_by(FilePluginResult.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def delete_results(self, file_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(FilePluginResult).where(FilePluginResult.file_id == file_id))

    # -- pipeline status ------------------------------------------------------------------
    async def claim(self, org_id: uuid.UUID, file_id: uuid.UUID, owner: str) -> bool:
        """Mark the file ``processing`` by ``owner`` unless its pipeline already runs."""
        result = await self.session.execute(
            update(File)
            .where(File.organization_id == org_id, File.id == file_id,
                   File.status != FileStatus.processing)
            .values(status=FileStatus.processing, processing_owner=owner)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def processing_owners(self) -> Sequence[tuple[uuid.UUID, str | None]]:
        stmt = select(File.id, File.processing_owner).where(
            File.status == FileStatus.processing)
        return [(r[0], r[1]) for r in (await self.session.execute(stmt)).all()]

    async def mark_incomplete(self, file_ids: Sequence[uuid.UUID], owner: str | None) -> int:
        """Files of ``file_ids`` still ``processing`` by ``owner`` become ``incomplete``."""
        if not file_ids:
            return 0
        result = await self.session.execute(
            update(File)
            .where(File.id.in_(file_ids), File.status == FileStatus.processing,
                   File.processing_owner == owner if owner is not None
                   else File.processing_owner.is_(None))
            .values(status=FileStatus.incomplete, processing_owner=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    # -- what plugins wrote (metadata.set) ------------------------------------------------
    async def plugin_metadata(self, file_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        stmt = (select(FilePluginMetadata.plugin_id, FilePluginMetadata.values)
                .where(FilePluginMetadata.file_id == file_id)
                .order_by(FilePluginMetadata.plugin_id))
        return {pid: values for pid, values in (await self.session.execute(stmt)).all()}

    async def lock_plugin_metadata(
        self, org_id: uuid.UUID, file_id: uuid.UUID, plugin_id: str
    ) -> dict[str, Any]:
        """The plugin's stored values for the file, locked until the transaction ends.

        Written first (an upsert creating an empty row), read second: the write takes the row
        lock (PostgreSQL) or the database's write lock (SQLite), so no concurrent ``set`` of the
        same plugin can change the values between this read and the caller's write.
        """
        table = FilePluginMetadata.__table__
        insert = insert_for(self.session, table)
        await self.session.execute(
            insert.values(file_id=file_id, plugin_id=plugin_id, organization_id=org_id,
                          values={}, size_bytes=2, updated_at=utcnow())
            .on_conflict_do_update(index_elements=["file_id", "plugin_id"],
                                   set_={"updated_at": insert.excluded.updated_at})
        )
        stmt = select(FilePluginMetadata.values).where(
            FilePluginMetadata.file_id == file_id, FilePluginMetadata.plugin_id == plugin_id)
        values: dict[str, Any] = (await self.session.execute(stmt)).scalar_one()
        return values

    async def store_plugin_metadata(
        self, file_id: uuid.UUID, plugin_id: str, values: dict[str, Any], size: int
    ) -> None:
        await self.session.execute(
            update(FilePluginMetadata)
            .where(FilePluginMetadata.file_id == file_id,
                   FilePluginMetadata.plugin_id == plugin_id)
            .values(values=values, size_bytes=size, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
