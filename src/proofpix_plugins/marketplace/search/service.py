"""``search(session, query) -> SearchResult``: the marketplace search, free of HTTP.

Filters (category, type, permissions, compatible, verified) and the text match narrow the
discoverable listings (``catalog.discoverable``); facets count category, type and permission
values under the query and every *other* filter, so choosing a category still shows how many
listings the other categories hold. Ranking for ``relevance``: the text score rounded to four
decimals, then verified publishers first, then downloads, then plugin id (total order, so pages
never overlap). The total and the facets are cached under the validity token
(``discovery_cache``); the page of items is always read fresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Numeric, cast, exists, func, not_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.marketplace.catalog import (
    AnySelect,
    L,
    ListingSummary,
    compatible_ranges,
    discoverable,
    has_visible_version,
    summary_of,
    summary_select,
)
from proofpix_plugins.marketplace.discovery_cache import DiscoveryCache, validity_token
from proofpix_plugins.marketplace.search import terms
from proofpix_plugins.marketplace.search.backend import backend_for


class SearchSort(StrEnum):
    """The order of search results (`relevance` needs `q`; without it, `downloads`)."""

    relevance = "relevance"
    downloads = "downloads"
    rating = "rating"
    updated = "updated"
    name = "name"


@dataclass(frozen=True)
class SearchQuery:
    """What to search for; ``sort=None`` means relevance with ``q``, downloads without."""

    q: str | None = None
    category: str | None = None
    type: str | None = None
    permissions: tuple[str, ...] = ()
    compatible: bool | None = None
    verified: bool | None = None
    sort: SearchSort | None = None
    page: int = 1
    limit: int = 20

    @property
    def words(self) -> list[str]:
        return terms.tokens(self.q) if self.q is not None else []

    @property
    def effective_sort(self) -> SearchSort:
        if self.sort is not None:
            return self.sort
        return SearchSort.relevance if self.words else SearchSort.downloads


@dataclass(frozen=True)
class SearchResult:
    items: list[ListingSummary]
    total: int
    page: int
    limit: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


_FACETS = ("category", "type", "permission")


async def search(
    session: AsyncSession, query: SearchQuery, *, cache: DiscoveryCache | None = None
) -> SearchResult:
    """One page of listings matching ``query``, with the total and facet counts."""
    words = query.words
    if query.q is not None and not words:
        # A query of punctuation alone names nothing: it must not list the whole catalogue.
        return SearchResult([], 0, query.page, query.limit, {f: {} for f in _FACETS})
    plan = _Plan(session, query, words)
    if cache is None:
        ranges = await compatible_ranges(session)
        total, facets = await plan.counts(ranges)
    else:
        token = await validity_token(session)
        ranges = await cache.get(("ranges",), token, lambda: compatible_ranges(session))
        key = ("search", tuple(words), query.category, query.type, query.permissions,
               query.compatible, query.verified)
        total, facets = await cache.get(key, token, lambda: plan.counts(ranges))
    items = await plan.items(ranges) if total > (query.page - 1) * query.limit else []
    return SearchResult(items, total, query.page, query.limit, facets)


class _Plan:
    def __init__(self, session: AsyncSession, query: SearchQuery, words: list[str]) -> None:
        self.session = session
        self.query = query
        self.words = words
        self.text = backend_for(session.get_bind().dialect.name)

    def _narrow(self, stmt: AnySelect, ranges: list[str], skip: str | None = None) -> AnySelect:
        q = self.query
        stmt = stmt.where(discoverable())
        if self.words:
            stmt = self.text.restrict(stmt, self.words)
        if q.category is not None and skip != "category":
            stmt = stmt.where(L.category == q.category)
        if q.type is not None and skip != "type":
            stmt = stmt.where(L.type == q.type)
        if skip != "permission":
            for permission in q.permissions:
                held = self.text.json_elements(L.permissions)
                stmt = stmt.where(
                    exists(select(1).select_from(held).where(held.c.value == permission)))
        if q.verified is not None:
            stmt = stmt.where(L.verified.is_(q.verified))
        if q.compatible is not None:
            compatible = has_visible_version(ranges)
            stmt = stmt.where(compatible if q.compatible else not_(compatible))
        return stmt

    async def counts(self, ranges: list[str]) -> tuple[int, dict[str, dict[str, int]]]:
        count: AnySelect = select(func.count()).select_from(L)
        total = await self.session.scalar(self._narrow(count, ranges))
        facets: dict[str, dict[str, int]] = {}
        for name, value in (("category", L.category), ("type", L.type)):
            grouped: AnySelect = select(value, func.count()).select_from(L)
            rows = await self.session.execute(
                self._narrow(grouped, ranges, skip=name).group_by(value))
            facets[name] = _ordered(rows.all())
        held = self.text.json_elements(L.permissions)
        per_permission: AnySelect = (
            select(held.c.value, func.count()).select_from(L).join(held, true()))
        rows = await self.session.execute(
            self._narrow(per_permission, ranges, skip="permission").group_by(held.c.value))
        facets["permission"] = _ordered(rows.all())
        return int(total or 0), facets

    async def items(self, ranges: list[str]) -> list[ListingSummary]:
        q = self.query
        sort = q.effective_sort
        if sort is SearchSort.relevance and not self.words:
            sort = SearchSort.downloads
        stmt = self._narrow(summary_select(), ranges)
        order: list[Any]
        if sort is SearchSort.relevance:
            relevance = cast(self.text.relevance(self.words), Numeric(18, 6))
            order = [func.round(relevance, 4).desc(), L.verified.desc(),
                     L.downloads_total.desc()]
        elif sort is SearchSort.downloads:
            order = [L.downloads_total.desc(), L.verified.desc()]
        elif sort is SearchSort.rating:
            order = [L.rating_avg.desc(), L.rating_count.desc(), L.verified.desc()]
        elif sort is SearchSort.updated:
            order = [L.updated_at.desc()]
        else:
            order = [func.lower(L.name).asc()]
        stmt = stmt.order_by(*order, L.plugin_id.asc())
        stmt = stmt.offset((q.page - 1) * q.limit).limit(q.limit)
        return [summary_of(row) for row in await self.session.execute(stmt)]


def _ordered(rows: Any) -> dict[str, int]:
    """Facet values by count, then by name (a stable order for clients and ETags)."""
    pairs = sorted(((str(k), int(n)) for k, n in rows if k is not None),
                   key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs)


__all__ = ["SearchQuery", "SearchResult", "SearchSort", "search"]
