"""The base every domain repository builds on: the session, lookups and pagination.

Repositories query and stage changes (``add`` flushes so database constraints fire where the
service can translate them); they never commit: the caller's transaction owner does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.kit.pagination import PageParams
from proofpix_plugins.models.base import Base

M = TypeVar("M", bound=Base)
T = TypeVar("T")


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    """How many rows ``statement`` returns, ignoring its ORDER BY, LIMIT and OFFSET."""
    inner = statement.order_by(None).limit(None).offset(None).subquery()
    total = await session.scalar(select(func.count()).select_from(inner))
    return int(total or 0)


async def paginate(
    session: AsyncSession, statement: Select[T], *, page: int, limit: int
) -> tuple[Sequence[T], int]:
    """One page of ``statement``'s first column and the total row count.

    Give ``statement`` a deterministic ORDER BY (end with a unique column) or pages overlap.
    """
    if page < 1 or limit < 1:
        raise ValueError("page and limit start at 1")
    total = await count(session, statement)
    if total == 0 or (page - 1) * limit >= total:
        return [], total
    rows = await session.scalars(statement.limit(limit).offset((page - 1) * limit))
    return rows.all(), total


class Repository(Generic[M]):
    """Subclass with ``model = SomeModel``; add one method per query the service needs."""

    model: type[M]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ident: Any) -> M | None:
        return await self.session.get(self.model, ident)

    async def add(self, obj: M) -> M:
        """Stage ``obj`` and flush, so defaults are filled and constraints checked now."""
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: M) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def paginate(
        self, statement: Select[M], params: PageParams
    ) -> tuple[Sequence[M], int]:
        return await paginate(self.session, statement, page=params.page, limit=params.limit)
