"""The migrated schema follows the naming convention and carries the indexes the API needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from proofpix_plugins.models import Base

TENANT_FREE = {
    # Platform-wide tables: accounts, caches, blobs.
    "users",
    "organizations",
    "plugin_marketplace_cache",
    "blobs",
    # Background jobs are the platform's own work; only platform admins see them.
    "jobs",
    # The plugin state clock and its change log: read across organizations by generation
    # (plugins/convergence.py); a change row's organization_id names the plugin, never a filter.
    "plugin_state_clock",
    "plugin_state_changes",
    # The marketplace is public and platform-wide: developers, their keys and listings belong
    # to no organization. Reviews carry the reviewer's organization_id (indexed) to prove the
    # install, but are read per listing.
    "developers",
    "api_keys",
    "developer_signing_keys",
    "marketplace_listings",
    "marketplace_versions",
    "marketplace_downloads",
    "marketplace_reviews",
    "marketplace_featured",
    "marketplace_search_terms",
    "marketplace_facet_counts",  # catalogue-wide counts of the public listings (0014)
    "submissions",
    "publication_log",
    "publication_log_head",
}


async def _inspect(engine: AsyncEngine, fn: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: fn(inspect(c)))


def _schema(insp: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for table in Base.metadata.tables:
        out[table] = {
            "pk": insp.get_pk_constraint(table),
            "fks": insp.get_foreign_keys(table),
            "uqs": insp.get_unique_constraints(table),
            "ixs": insp.get_indexes(table),
            "cks": insp.get_check_constraints(table),
            "cols": {c["name"] for c in insp.get_columns(table)},
        }
    return out


POSTGRES_NAME_MAX = 63


async def test_constraint_and_index_names_follow_the_convention(engine: AsyncEngine) -> None:
    schema = await _inspect(engine, _schema)
    for table, parts in schema.items():
        if parts["pk"]["name"] is not None:  # SQLite does not keep primary key names
            assert parts["pk"]["name"] == f"pk_{table}"
        for fk in parts["fks"]:
            assert fk["name"] == f"fk_{table}_{fk['constrained_columns'][0]}_{fk['referred_table']}"
        for uq in parts["uqs"]:
            assert uq["name"] == f"uq_{table}_{'_'.join(uq['column_names'])}"
        for ix in parts["ixs"]:
            if ix.get("duplicates_constraint"):  # PostgreSQL lists unique constraints twice
                continue
            if None in ix["column_names"]:
                # An expression index (migration 0016's to_tsvector of the name): named by
                # hand for what it indexes, same prefix.
                assert ix["name"].startswith(f"ix_{table}_"), ix["name"]
                continue
            conventional = f"ix_{table}_{'_'.join(ix['column_names'])}"
            if len(conventional) > POSTGRES_NAME_MAX:
                # PostgreSQL would cut it: named by hand, within the limit, same prefix.
                assert ix["name"].startswith(f"ix_{table}_"), ix["name"]
                assert len(ix["name"]) <= POSTGRES_NAME_MAX, ix["name"]
            else:
                assert ix["name"] == conventional
        for ck in parts["cks"]:
            assert ck["name"].startswith(f"ck_{table}_"), ck


async def test_every_tenant_table_carries_an_indexed_organization_id(
    engine: AsyncEngine,
) -> None:
    schema = await _inspect(engine, _schema)
    for table, parts in schema.items():
        if table in TENANT_FREE:
            continue
        assert "organization_id" in parts["cols"], table
        leading = {ix["column_names"][0] for ix in parts["ixs"]}
        leading |= {uq["column_names"][0] for uq in parts["uqs"]}
        assert "organization_id" in leading, table


async def test_the_apis_filters_and_sorts_have_indexes(engine: AsyncEngine) -> None:
    def indexed(insp: Any) -> dict[str, set[tuple[str, ...]]]:
        return {
            t: {tuple(ix["column_names"]) for ix in insp.get_indexes(t)}
            | {tuple(uq["column_names"]) for uq in insp.get_unique_constraints(t)}
            for t in Base.metadata.tables
        }

    have = await _inspect(engine, indexed)
    wanted: dict[str, list[tuple[str, ...]]] = {
        "plugins": [
            ("organization_id", "status"),
            ("organization_id", "type"),
            ("organization_id", "category"),
            ("organization_id", "plugin_id"),
        ],
        "plugin_events": [("organization_id", "plugin_id", "created_at")],
        "plugin_metrics": [("plugin_row_id", "bucket_start")],
        "plugin_hooks": [("organization_id", "hook_name")],
        # The runner's claims (due jobs, expired leases) and the admin list by status.
        "jobs": [("status", "run_after"), ("status", "locked_until"), ("status", "created_at"),
                 ("idempotency_key",)],
    }
    for table, indexes in wanted.items():
        for cols in indexes:
            assert cols in have[table], (table, cols)
