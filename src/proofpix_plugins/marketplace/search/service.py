"""``search(session, query) -> SearchResult``: the marketplace search, free of HTTP.

Filters (category, type, permissions, compatible, verified) and the text match narrow the
discoverable listings (``catalog.discoverable``); facets count category, type and permission
values under the query and every *other* filter, so choosing a category still shows how many
listings the other categories hold. Ranking for ``relevance``: listings whose name matches a
query word first, then the text score rounded to four decimals, then verified publishers first,
then downloads, then plugin id (total order, so pages never overlap;
docs/marketplace-discovery.md). The total and the facets are cached under the validity token
(``discovery_cache``); the page of items is read fresh here (the HTTP route keeps whole rendered
pages for a shorter TTL: ``discovery_endpoints``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    cast,
    exists,
    false,
    func,
    not_,
    select,
    true,
    tuple_,
)
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
from proofpix_plugins.marketplace.discovery_cache import DiscoveryCache, Token, validity_token
from proofpix_plugins.marketplace.search import facet_code, terms
from proofpix_plugins.marketplace.search.backend import FACET_CODE, backend_for
from proofpix_plugins.models.marketplace_search import MarketplaceFacetCount as FacetCount


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


_FACETS = frozenset({"category", "type", "permission"})
_FACET_ORDER = ("category", "type", "permission")


async def search(
    session: AsyncSession, query: SearchQuery, *, cache: DiscoveryCache | None = None,
    token: Token | None = None,
) -> SearchResult:
    """One page of listings matching ``query``, with the total and facet counts.

    ``token``: the validity token when the caller has just read it (saves reading it twice).
    """
    words = query.words
    if query.q is not None and not words:
        # A query of punctuation alone names nothing: it must not list the whole catalogue.
        return SearchResult([], 0, query.page, query.limit, {f: {} for f in _FACET_ORDER})
    plan = _Plan(session, query, words)
    if cache is None:
        ranges = await compatible_ranges(session)
        total, facets = await plan.counts(ranges)
    else:
        if token is None:
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

    def _narrow(self, stmt: AnySelect, ranges: list[str],
                skip: frozenset[str] = frozenset()) -> AnySelect:
        q = self.query
        stmt = stmt.where(discoverable())
        if self.words:
            stmt = self.text.restrict(stmt, self.words)
        if q.category is not None and "category" not in skip:
            stmt = stmt.where(L.category == q.category)
        if q.type is not None and "type" not in skip:
            stmt = stmt.where(L.type == q.type)
        if "permission" not in skip:
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
        """The total and the three facets from one statement over the hits' ``facet_code``.

        The listings narrowed by everything but the faceted filters (category, type,
        permissions) are tallied twice by parts of their code (migration 0016: category, type
        and permission bits as one integer): by (category, type) among those holding the wanted
        permissions, which gives the category and type facets and the total, and by permission
        bits among those in the category and of the type, which gives the permission facet.
        Integer keys throughout; only the few dozen distinct keys are decoded to names.
        PostgreSQL does both tallies in one statement (``GROUPING SETS``, ~100 rows back);
        SQLite has none, so it returns one row per code (~1,500 for a broad word; two
        ``GROUP BY`` over a materialized CTE measured slower) and they are tallied here.
        """
        if self._unfiltered:
            return await self._counts_summary()
        q = self.query
        wanted = facet_code.wanted_bits(q.permissions)
        category_no = facet_code.category_number(q.category) if q.category is not None else None
        type_no = facet_code.type_number(q.type) if q.type is not None else None
        tally = self._tally_by_sets if self.text.grouping_sets else self._tally_codes
        by_kind, by_bits = await tally(ranges, wanted, category_no, type_no)
        return _facets(q, by_kind, by_bits)

    async def _tally_codes(
        self, ranges: list[str], wanted: int | None, category_no: int | None,
        type_no: int | None,
    ) -> tuple[dict[int, int], dict[int, int]]:
        """:meth:`counts`'s two tallies from one row per code (SQLite).

        ``by_kind``: (category << 8 | type) -> listings holding the ``wanted`` bits;
        ``by_bits``: permission bits -> listings in the category and of the type."""
        by_kind: dict[int, int] = {}
        by_bits: dict[int, int] = {}
        grouped: AnySelect = select(FACET_CODE, func.count()).select_from(L)
        connection = await self.session.connection()
        rows = await connection.execute(
            self._narrow(grouped, ranges, skip=_FACETS).group_by(FACET_CODE))
        for code, n in rows:
            if wanted is not None and code & wanted == wanted:
                by_kind[code >> 8] = by_kind.get(code >> 8, 0) + n
            if (category_no is None or code >> 16 == category_no) and (
                    type_no is None or code >> 8 & 0xFF == type_no):
                by_bits[code & 0xFF] = by_bits.get(code & 0xFF, 0) + n
        return by_kind, by_bits

    async def _tally_by_sets(
        self, ranges: list[str], wanted: int | None, category_no: int | None,
        type_no: int | None,
    ) -> tuple[dict[int, int], dict[int, int]]:
        """:meth:`_tally_codes`'s result from two grouping sets (PostgreSQL, ~100 rows)."""
        yes: ColumnElement[bool] = true()
        category = FACET_CODE.bitwise_rshift(16)
        kind = FACET_CODE.bitwise_rshift(8)
        holds: ColumnElement[bool]
        if wanted is None:  # a permission that does not exist: nobody holds it
            holds = false()
        elif wanted:
            holds = FACET_CODE.bitwise_and(wanted) == wanted
        else:
            holds = yes
        in_scope: ColumnElement[bool] = and_(
            category == category_no if category_no is not None else yes,
            kind.bitwise_and(0xFF) == type_no if type_no is not None else yes)
        hits: AnySelect = select(
            kind.label("kind"), FACET_CODE.bitwise_and(0xFF).label("bits"),
            holds.label("holds"), in_scope.label("in_scope")).select_from(L)
        # A subquery, so each flag is one column to group by (the same expression written in
        # the select list and in the grouping sets would carry two bound parameters, which
        # PostgreSQL does not see as the same expression); the planner flattens it.
        r = self._narrow(hits, ranges, skip=_FACETS).subquery("r")
        stmt: AnySelect = select(
            r.c.kind, r.c.holds, r.c.bits, r.c.in_scope, func.count()).group_by(
                func.grouping_sets(tuple_(r.c.kind, r.c.holds), tuple_(r.c.bits, r.c.in_scope)))
        by_kind: dict[int, int] = {}
        by_bits: dict[int, int] = {}
        connection = await self.session.connection()
        for kind_key, held, bit_set, scoped, n in await connection.execute(stmt):
            if kind_key is not None:
                if held:
                    by_kind[kind_key] = by_kind.get(kind_key, 0) + n
            elif scoped:
                by_bits[bit_set] = by_bits.get(bit_set, 0) + n
        return by_kind, by_bits

    @property
    def _unfiltered(self) -> bool:
        """No text and no filter: the counts are the summary table's (migration 0014)."""
        q = self.query
        return not self.words and q.category is None and q.type is None and not q.permissions \
            and q.verified is None and q.compatible is None

    async def _counts_summary(self) -> tuple[int, dict[str, dict[str, int]]]:
        """:meth:`counts` of the whole catalogue: ``marketplace_facet_counts``, a few dozen rows
        kept by triggers in every writer's transaction, instead of grouping every listed
        listing (~9,700 at the benchmark's size) on each call."""
        total = 0
        per: dict[str, dict[str, int]] = {name: {} for name in _FACET_ORDER}
        rows = await self.session.execute(
            select(FacetCount.facet, FacetCount.value, FacetCount.n).where(FacetCount.n > 0))
        for facet, value, n in rows:
            if facet == "total":
                total = int(n)
            elif facet in per:
                per[facet][value] = int(n)
        return total, {name: _ordered(values.items()) for name, values in per.items()}

    async def items(self, ranges: list[str]) -> list[ListingSummary]:
        """The page of listings in the query's order.

        Relevance is two tiers: listings whose name matches a query word, then the others, each
        by the rounded text score, verified, downloads and plugin id. A broad word (a third of
        the catalogue) then needs the text score of its name matches only until the pages run
        past them; the second tier is ranked only for the pages that reach it.
        """
        q = self.query
        sort = q.effective_sort
        if sort is SearchSort.relevance and not self.words:
            sort = SearchSort.downloads
        offset, limit = (q.page - 1) * q.limit, q.limit
        if sort is not SearchSort.relevance:
            return await self._page(ranges, _SORT_KEYS[sort], offset, limit)
        relevance = cast(self.text.relevance(self.words), Numeric(18, 6))
        keys = [(func.round(relevance, 4), True), (L.verified, True), (L.downloads_total, True)]
        named = self.text.in_name(self.words)
        first = await self._page(ranges, keys, offset, limit, named)
        if len(first) == limit:
            return first
        if first:  # the name matches end on this page
            rest_offset = 0
        else:
            counted: AnySelect = select(func.count()).select_from(L)
            named_total = (await self.session.execute(
                self._narrow(counted, ranges).where(named))).scalar_one()
            rest_offset = offset - int(named_total)
        rest = await self._page(ranges, keys, rest_offset, limit - len(first),
                                self.text.not_in_name(self.words))
        return first + rest

    async def _page(self, ranges: list[str], keys: list[tuple[Any, bool]], offset: int,
                    limit: int, tier: ColumnElement[bool] | None = None,
                    ) -> list[ListingSummary]:
        """Ids ranked and cut inside the database, then only they are joined to the summary
        columns (the sort carries the keys, not descriptions, tags and publishers)."""
        keys = [*keys, (L.plugin_id, False)]  # a total order: pages never overlap
        labelled = [expr.label(f"k{i}") for i, (expr, _desc) in enumerate(keys)]
        ranked: AnySelect = select(L.id.label("ranked_id"), *labelled).select_from(L)
        ranked = self._narrow(ranked, ranges)
        if tier is not None:
            ranked = ranked.where(tier)
        ranked = ranked.order_by(*[expr.desc() if desc else expr.asc() for expr, (_e, desc) in zip(
            labelled, keys, strict=True)])
        page = ranked.offset(offset).limit(limit).subquery("page")
        outer = [page.c[f"k{i}"] for i in range(len(keys))]
        stmt = summary_select().join(page, page.c.ranked_id == L.id).order_by(
            *[col.desc() if desc else col.asc() for col, (_e, desc) in zip(
                outer, keys, strict=True)])
        connection = await self.session.connection()  # Core rows: no ORM result machinery
        return [summary_of(row) for row in await connection.execute(stmt)]


_SORT_KEYS: dict[SearchSort, list[tuple[Any, bool]]] = {
    SearchSort.downloads: [(L.downloads_total, True), (L.verified, True)],
    SearchSort.rating: [(L.rating_avg, True), (L.rating_count, True), (L.verified, True)],
    SearchSort.updated: [(L.updated_at, True)],
    SearchSort.name: [(func.lower(L.name), False)],
}


def _facets(q: SearchQuery, by_kind: dict[int, int], by_bits: dict[int, int],
            ) -> tuple[int, dict[str, dict[str, int]]]:
    """:meth:`_Plan.counts`'s two tallies as the total and the facets, by name."""
    total = 0
    per: dict[str, dict[str, int]] = {name: {} for name in _FACET_ORDER}
    for key, n in by_kind.items():
        category, type_, _ = facet_code.decode(key << 8)
        category_ok = q.category is None or category == q.category
        type_ok = q.type is None or type_ == q.type
        if type_ok and category is not None:
            per["category"][category] = per["category"].get(category, 0) + n
        if category_ok and type_ is not None:
            per["type"][type_] = per["type"].get(type_, 0) + n
        if category_ok and type_ok:
            total += n
    for bits, n in by_bits.items():
        for permission in facet_code.decode(bits).permissions:
            per["permission"][permission] = per["permission"].get(permission, 0) + n
    return total, {name: _ordered(values.items()) for name, values in per.items()}


def _ordered(rows: Any) -> dict[str, int]:
    """Facet values by count, then by name (a stable order for clients and ETags)."""
    pairs = sorted(((str(k), int(n)) for k, n in rows if k is not None),
                   key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs)


__all__ = ["SearchQuery", "SearchResult", "SearchSort", "search"]
