"""``marketplace_listings.facet_code`` (migration 0016): what the database stores for every
category, type and permission decodes back to them, and follows every change of a listing.

This is the guard on the migration's copy of the vocabularies: a category, type or permission
added to the code without a migration rewriting the code fails here."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import NamedTuple

from sqlalchemy import select, text

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace.search import SearchQuery, facet_code, search
from proofpix_plugins.models.marketplace import MarketplaceListing
from proofpix_plugins.packages.manifest import CATEGORIES, PLUGIN_TYPES
from proofpix_plugins.runtime.limits import PERMISSION_ORDER
from tests.marketplace.listing_seed import Seeder


async def _code(seed: Seeder, plugin_id: str) -> int:
    async with session_scope(seed.factory) as session:
        lid = await session.scalar(select(MarketplaceListing.id)
                                   .where(MarketplaceListing.plugin_id == plugin_id))
        code = await session.scalar(text(
            "SELECT facet_code FROM marketplace_listings WHERE id = :id").bindparams(
                id=lid).columns())
        return int(code)


async def test_every_vocabulary_value_round_trips_through_the_database(seed: Seeder) -> None:
    n = max(len(CATEGORIES), len(PLUGIN_TYPES), len(PERMISSION_ORDER))
    for i in range(n):
        category, type_ = CATEGORIES[i % len(CATEGORIES)], PLUGIN_TYPES[i % len(PLUGIN_TYPES)]
        held = {PERMISSION_ORDER[i % len(PERMISSION_ORDER)],
                PERMISSION_ORDER[(i + 3) % len(PERMISSION_ORDER)]}
        await seed.listing(f"pub{i}.plugin", category=category, type=type_,
                           permissions=sorted(held))
        code = await _code(seed, f"pub{i}.plugin")
        assert code == facet_code.encode(category, type_, held)
        assert facet_code.decode(code) == (category, type_, frozenset(held))
    await seed.listing("every.permission", permissions=list(PERMISSION_ORDER))
    assert facet_code.decode(await _code(seed, "every.permission")).permissions == frozenset(
        PERMISSION_ORDER)
    await seed.listing("no.permission", permissions=[])
    assert facet_code.decode(await _code(seed, "no.permission")).permissions == frozenset()


async def test_the_code_follows_a_change_of_category_type_or_permissions(seed: Seeder) -> None:
    await seed.listing("move.me", category="image", type="utility", permissions=["files"])
    await seed.set("move.me", category="security", type="connector",
                   permissions=["http", "secrets"])
    assert facet_code.decode(await _code(seed, "move.me")) == (
        "security", "connector", frozenset({"http", "secrets"}))


def test_an_unknown_number_decodes_to_none() -> None:
    assert facet_code.decode(0) == (None, None, frozenset())
    assert facet_code.decode(0xFF << 16 | 0xFF << 8).category is None


class _Row(NamedTuple):
    category: str
    type: str
    permissions: list[str]
    word: str


async def test_facets_and_totals_equal_a_count_by_hand(seed: Seeder) -> None:
    """Both ways of counting (one row per code on SQLite, grouping sets on PostgreSQL) against
    the definition: each facet counts the matches of every *other* filter."""
    rng = random.Random(21)  # noqa: S311 -- reproducible test data
    rows = []
    for i in range(40):
        row = _Row(rng.choice(CATEGORIES[:4]), rng.choice(PLUGIN_TYPES[:3]),
                   sorted(rng.sample(PERMISSION_ORDER[:4], rng.randint(0, 3))),
                   rng.choice(["alpha", "beta"]))
        rows.append(row)
        await seed.listing(f"pub{i}.plugin", description=f"a {row.word} tool",
                           category=row.category, type=row.type, permissions=row.permissions)

    def expected(q: str | None, category: str | None, type_: str | None,
                 wanted: tuple[str, ...]) -> tuple[int, dict[str, dict[str, int]]]:
        def keep(r: _Row, skip: str) -> bool:
            return ((q is None or r.word == q)
                    and (skip == "category" or category is None or r.category == category)
                    and (skip == "type" or type_ is None or r.type == type_)
                    and (skip == "permission" or set(wanted) <= set(r.permissions)))
        facets: dict[str, Counter[str]] = {"category": Counter(), "type": Counter(),
                                           "permission": Counter()}
        for r in rows:
            if keep(r, "category"):
                facets["category"][r.category] += 1
            if keep(r, "type"):
                facets["type"][r.type] += 1
            if keep(r, "permission"):
                facets["permission"].update(r.permissions)
        ordered = {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0])))
                   for k, v in facets.items()}
        return sum(1 for r in rows if keep(r, "")), ordered

    for q, category, type_, wanted in itertools.product(
            (None, "alpha"), (None, CATEGORIES[1]), (None, PLUGIN_TYPES[2]),
            ((), (PERMISSION_ORDER[0],), (PERMISSION_ORDER[0], PERMISSION_ORDER[3]))):
        async with session_scope(seed.factory) as session:
            # verified=False (every listing here): a filter, so never the summary table.
            result = await search(session, SearchQuery(
                q=q, category=category, type=type_, permissions=wanted, verified=False))
        assert (result.total, result.facets) == expected(q, category, type_, wanted), (
            q, category, type_, wanted)
