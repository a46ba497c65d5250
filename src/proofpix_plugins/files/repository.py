"""Queries of the photo pipeline; every read is scoped by organization."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from proofpix_plugins.models.files import Blob, File, FilePluginResult


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
