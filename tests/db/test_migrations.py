"""The schema comes from the Alembic migrations, and the migrations match the models."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from proofpix_plugins.migrations import check_async, upgrade_async
from proofpix_plugins.migrations.runner import alembic_config, create_migration_engine
from proofpix_plugins.models import Base
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace_search import is_search_object

BRIEF_TABLES = {
    "plugins",
    "plugin_permissions",
    "plugin_hooks",
    "plugin_configurations",
    "plugin_metrics",
    "plugin_events",
    "plugin_dependencies",
    "plugin_marketplace_cache",
    "plugin_storage",
}

#: Created by 0001 with no feature behind them, dropped by 0002 until the marketplace ships.
DROPPED_MARKETPLACE_TABLES = {
    "developers",
    "api_keys",
    "marketplace_listings",
    "marketplace_versions",
    "marketplace_reviews",
    "marketplace_downloads",
    "submissions",
    "marketplace_search_terms",
}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_create_every_model_table(engine: AsyncEngine) -> None:
    # Discovery's FTS5 table and its shadow tables (SQLite) are DDL the models cannot declare.
    tables = {t for t in await _table_names(engine) if not is_search_object(t, "table")}
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_models_include_the_briefs_nine_plugin_tables() -> None:
    assert set(Base.metadata.tables) >= BRIEF_TABLES


async def test_migrated_database_is_at_the_single_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert [v for (v,) in versions] == [_head()]


async def test_models_and_migrations_do_not_drift(db_url: str) -> None:
    assert await check_async(db_url) == []


async def test_upgrade_twice_is_a_no_op(db_url: str, engine: AsyncEngine) -> None:
    before = await _table_names(engine)
    await upgrade_async(db_url)
    assert await _table_names(engine) == before


async def test_upgrade_builds_a_fresh_sqlite_file_from_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "fresh.db"
    await upgrade_async(f"sqlite+aiosqlite:///{path}")
    conn = sqlite3.connect(path)
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if not is_search_object(row[0], "table")
        }
    finally:
        conn.close()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


async def test_drift_is_reported_naming_the_missing_index(
    sqlite_db_url: str,
) -> None:
    # SQLite only: the per-test copy may be damaged; the session's PostgreSQL database may not.
    path = sqlite_db_url.removeprefix("sqlite+aiosqlite:///")
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP INDEX ix_plugins_organization_id_status")
        conn.commit()
    finally:
        conn.close()
    drift = await check_async(sqlite_db_url)
    assert any("ix_plugins_organization_id_status" in line for line in drift)


def test_every_revision_file_has_an_upgrade_and_a_downgrade() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())
    assert revisions
    for rev in revisions:
        assert callable(getattr(rev.module, "upgrade", None)), rev.revision
        assert callable(getattr(rev.module, "downgrade", None)), rev.revision


def test_the_marketplace_tables_are_back_with_the_feature() -> None:
    # 0002 dropped the unused marketplace tables; 0008 recreated them for issues #13/#14.
    assert set(Base.metadata.tables) >= DROPPED_MARKETPLACE_TABLES
    assert "plugin_marketplace_cache" in Base.metadata.tables  # one of SPEC §8's nine


def _schema_of(connection: Connection) -> dict[str, Any]:
    insp = inspect(connection)
    return {
        table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in
                        insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(map(repr, insp.get_foreign_keys(table))),
            "indexes": sorted(map(repr, insp.get_indexes(table))),
            "uniques": sorted(map(repr, insp.get_unique_constraints(table))),
            "checks": sorted(map(repr, insp.get_check_constraints(table))),
        }
        for table in insp.get_table_names()
        if table != "alembic_version"
    }


async def _schema(url: str, downgrade_to: str | None = None) -> dict[str, Any]:
    def work(connection: Connection) -> dict[str, Any]:
        if downgrade_to is not None:
            command.downgrade(alembic_config(connection=connection), downgrade_to)
        return _schema_of(connection)

    engine = create_migration_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def test_downgrading_0002_recreates_the_marketplace_tables_exactly(tmp_path: Path) -> None:
    only_0001 = f"sqlite+aiosqlite:///{tmp_path / 'only-0001.db'}"
    round_trip = f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}"
    await upgrade_async(only_0001, "0001")
    await upgrade_async(round_trip)
    before = await _schema(only_0001)
    assert set(before) >= DROPPED_MARKETPLACE_TABLES
    assert await _schema(round_trip, downgrade_to="0001") == before
    await upgrade_async(round_trip)
    schema = await _schema(round_trip)
    assert {t for t in schema if not is_search_object(t, "table")} == set(Base.metadata.tables)


async def _migrate(url: str, *, down_to: str | None = None, up_to: str | None = None) -> None:
    def work(connection: Connection) -> None:
        cfg = alembic_config(connection=connection)
        if down_to is not None:
            command.downgrade(cfg, down_to)
        if up_to is not None:
            command.upgrade(cfg, up_to)

    engine = create_migration_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(work)
    finally:
        await engine.dispose()


async def test_0003_moves_plugin_metadata_into_rows_and_back(db_url: str) -> None:
    """Each plugin's namespace of ``files.metadata`` becomes a row, and a downgrade folds the rows
    back; existing files are ``complete``; on SQLite and PostgreSQL, with their rows intact."""
    org, file_id = uuid.uuid4(), uuid.uuid4()
    meta = {"plugins": {"acme.a": {"label": "beach"}, "acme.b": {"score": 0.5, "n": [1, 2]}}}
    await _migrate(db_url, down_to="0002")
    engine = create_migration_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO organizations (id, name, slug, tier, created_at) "
                "VALUES (:id, 'o', :slug, 'enterprise', :now)"),
                {"id": _uuid_param(conn, org), "slug": f"o-{org.hex[:8]}", "now": utcnow()})
            await conn.execute(text(
                "INSERT INTO files (id, organization_id, filename, content_type, size_bytes, "
                "sha256, metadata, created_at) VALUES (:id, :org, 'a.jpg', 'image/jpeg', 1, "
                ":sha, :meta, :now)"),
                {"id": _uuid_param(conn, file_id), "org": _uuid_param(conn, org),
                 "sha": "0" * 64, "meta": json.dumps(meta), "now": utcnow()})
            await conn.execute(text(
                "INSERT INTO file_plugin_results (file_id, organization_id, hook_name, plugin_id,"
                " status, duration_ms, created_at) VALUES (:id, :org, 'file:uploaded', 'acme.a',"
                " 'ok', 1.0, :now)"),
                {"id": _uuid_param(conn, file_id), "org": _uuid_param(conn, org),
                 "now": utcnow()})
        await _migrate(db_url, up_to="head")
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT plugin_id, size_bytes FROM file_plugin_metadata ORDER BY plugin_id"
            ))).all()
            assert [tuple(r) for r in rows] == [
                ("acme.a", len(json.dumps({"label": "beach"}, separators=(",", ":")))),
                ("acme.b", len(json.dumps({"score": 0.5, "n": [1, 2]}, separators=(",", ":")))),
            ]
            assert (await conn.execute(text("SELECT status FROM files"))).scalar_one() == (
                "complete")
            # No table rebuild on SQLite: the file's results did not cascade away.
            assert (await conn.execute(text("SELECT count(*) FROM file_plugin_results"))
                    ).scalar_one() == 1
        await _migrate(db_url, down_to="0002")
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT metadata FROM files"))).scalar_one()
            assert (json.loads(stored) if isinstance(stored, str) else stored) == meta
            assert (await conn.execute(text("SELECT count(*) FROM file_plugin_results"))
                    ).scalar_one() == 1
    finally:
        await engine.dispose()
        await _migrate(db_url, up_to="head")
    assert await check_async(db_url) == []


def _uuid_param(conn: Any, value: uuid.UUID) -> Any:
    # SQLite stores the Uuid type as 32 hex characters, PostgreSQL as a native uuid.
    return value.hex if conn.dialect.name == "sqlite" else value


async def test_downgrading_0012_restores_the_0011_schema_exactly(tmp_path: Path) -> None:
    """0012 adds two covering indexes for search; its downgrade leaves 0011's schema as it was."""
    only_0011 = f"sqlite+aiosqlite:///{tmp_path / 'only-0011.db'}"
    round_trip = f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}"
    await upgrade_async(only_0011, "0011")
    await upgrade_async(round_trip, "0012")
    assert await _schema(round_trip) != await _schema(only_0011)
    assert await _schema(round_trip, downgrade_to="0011") == await _schema(only_0011)


def _sqlite_search_ddl(path: Path) -> list[tuple[str, str, str]]:
    """The FTS5 table, its triggers and every index as SQLite stores their DDL."""
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND "
            "(type IN ('trigger', 'index') OR name = 'marketplace_search_fts')"))
    finally:
        conn.close()


async def test_downgrading_0013_restores_the_0012_schema_exactly(tmp_path: Path) -> None:
    """0013 adds the search key and rebuilds the FTS5 table keyed by it; its downgrade leaves
    0012's schema as it was, the FTS5 table and its triggers included, with the rows indexed."""
    only_0012 = f"sqlite+aiosqlite:///{tmp_path / 'only-0012.db'}"
    round_trip = f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}"
    await upgrade_async(only_0012, "0012")
    await upgrade_async(round_trip, "0013")
    assert await _schema(round_trip) != await _schema(only_0012)
    assert _sqlite_search_ddl(tmp_path / "round-trip.db") != _sqlite_search_ddl(
        tmp_path / "only-0012.db")
    assert await _schema(round_trip, downgrade_to="0012") == await _schema(only_0012)
    assert _sqlite_search_ddl(tmp_path / "round-trip.db") == _sqlite_search_ddl(
        tmp_path / "only-0012.db")


def _insert_listing_sql(conn: Any, plugin_id: str, developer_id: uuid.UUID,
                        name: str) -> tuple[Any, dict[str, Any]]:
    return (
        text("INSERT INTO marketplace_listings (id, plugin_id, developer_id, name, description, "
        "type, category, tags, permissions, verified, status, listed, downloads_total, "
        "installs_total, rating_avg, rating_count, created_at, updated_at) VALUES (:id, :pid, "
        ":dev, :name, 'a plugin', 'processor', 'image', '[\"t\"]', '[]', false, 'active', true, "
        "0, 0, 0, 0, :now, :now)"),
        {"id": _uuid_param(conn, uuid.uuid4()), "pid": plugin_id,
         "dev": _uuid_param(conn, developer_id), "name": name, "now": utcnow()},
    )


async def test_0013_keys_listings_on_insert_and_keeps_the_index_in_step(tmp_path: Path) -> None:
    """Rows existing at 0013 get keys; every later insert gets a new one from the database;
    the FTS5 rows follow inserts, renames and deletes (contentless: deleted by old values)."""
    path = tmp_path / "keys.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url, "0012")
    engine = create_migration_engine(url)
    user, dev = uuid.uuid4(), uuid.uuid4()

    async def matches(conn: Any, word: str) -> list[str]:
        rows = await conn.execute(text(
            "SELECT L.plugin_id FROM marketplace_search_fts JOIN marketplace_listings AS L "
            "ON L.search_key = marketplace_search_fts.rowid "
            "WHERE marketplace_search_fts MATCH :q ORDER BY L.plugin_id"), {"q": word})
        return [r for (r,) in rows]

    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (id, email, password_hash, name, is_platform_admin, "
                "is_active, auth_epoch, created_at) VALUES (:id, 'd@example.com', 'x', 'd', "
                "false, true, 0, :now)"), {"id": user.hex, "now": utcnow()})
            await conn.execute(text(
                "INSERT INTO developers (id, user_id, namespace, skeleton, display_name, "
                "verified, created_at) VALUES (:id, :user, 'acme', 'acme', 'Acme', false, "
                ":now)"), {"id": dev.hex, "user": user.hex, "now": utcnow()})
            for pid, name in (("acme.one", "Alpha"), ("acme.two", "Beta")):
                await conn.execute(*_insert_listing_sql(conn, pid, dev, name))
        await upgrade_async(url, "0013")
        async with engine.begin() as conn:
            await conn.execute(*_insert_listing_sql(conn, "acme.three", dev, "Alpha Gamma"))
            keys: dict[str, int] = {pid: int(key) for pid, key in (await conn.execute(text(
                "SELECT plugin_id, search_key FROM marketplace_listings"))).all()}
            assert sorted(keys.values()) == [1, 2, 3]
            assert keys["acme.three"] == 3
            assert await matches(conn, "alpha") == ["acme.one", "acme.three"]
            await conn.execute(text(
                "UPDATE marketplace_listings SET name = 'Delta' WHERE plugin_id = 'acme.one'"))
            await conn.execute(text(
                "DELETE FROM marketplace_listings WHERE plugin_id = 'acme.two'"))
            assert await matches(conn, "alpha") == ["acme.three"]
            assert await matches(conn, "delta") == ["acme.one"]
            assert await matches(conn, "beta") == []
            # A key never changes: the FTS5 rows are keyed by it.
        async with engine.begin() as conn:
            with pytest.raises(IntegrityError, match="search_key cannot change"):
                await conn.execute(text(
                    "UPDATE marketplace_listings SET search_key = 99 "
                    "WHERE plugin_id = 'acme.one'"))
        async with engine.begin() as conn:
            # FTS5 checks its index against nothing (contentless) but its own structure.
            await conn.execute(text(
                "INSERT INTO marketplace_search_fts (marketplace_search_fts, rank) "
                "VALUES ('integrity-check', 0)"))
            assert await matches(conn, "alpha") == ["acme.three"]
    finally:
        await engine.dispose()


async def test_downgrading_0014_restores_the_0013_schema_exactly(tmp_path: Path) -> None:
    """0014 adds the facet summary table and its triggers; its downgrade leaves 0013's schema."""
    only_0013 = f"sqlite+aiosqlite:///{tmp_path / 'only-0013.db'}"
    round_trip = f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}"
    await upgrade_async(only_0013, "0013")
    await upgrade_async(round_trip, "0014")
    assert await _schema(round_trip) != await _schema(only_0013)
    assert _sqlite_search_ddl(tmp_path / "round-trip.db") != _sqlite_search_ddl(
        tmp_path / "only-0013.db")
    assert await _schema(round_trip, downgrade_to="0013") == await _schema(only_0013)
    assert _sqlite_search_ddl(tmp_path / "round-trip.db") == _sqlite_search_ddl(
        tmp_path / "only-0013.db")


async def test_0014_counts_the_listed_listings_and_keeps_counting(db_url: str) -> None:
    """The upgrade counts the listings already listed; the triggers follow inserts, updates and
    deletes after it; the downgrade drops the table (and the triggers with it) on both
    databases."""
    user, dev = uuid.uuid4(), uuid.uuid4()
    await _migrate(db_url, down_to="0013")
    engine = create_migration_engine(db_url)

    async def counts(conn: Any) -> dict[tuple[str, str], int]:
        rows = await conn.execute(text(
            "SELECT facet, value, n FROM marketplace_facet_counts WHERE n <> 0"))
        return {(f, v): int(n) for f, v, n in rows}

    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM marketplace_listings"))
            await conn.execute(text(
                "INSERT INTO users (id, email, password_hash, name, is_platform_admin, "
                "is_active, auth_epoch, created_at) VALUES (:id, :email, 'x', 'd', "
                "false, true, 0, :now)"),
                {"id": _uuid_param(conn, user), "email": f"{user.hex}@example.com",
                 "now": utcnow()})
            await conn.execute(text(
                "INSERT INTO developers (id, user_id, namespace, skeleton, display_name, "
                "verified, created_at) VALUES (:id, :user, :ns, :ns, 'Acme', false, :now)"),
                {"id": _uuid_param(conn, dev), "user": _uuid_param(conn, user),
                 "ns": f"n{dev.hex[:10]}", "now": utcnow()})
            for pid in ("acme.one", "acme.two", "acme.hidden"):
                await conn.execute(*_insert_listing_sql(conn, pid, dev, pid))
            await conn.execute(text(
                "UPDATE marketplace_listings SET permissions = '[\"files\", \"files\", \"net\"]'"
                " WHERE plugin_id = 'acme.one'"))
            await conn.execute(text(
                "UPDATE marketplace_listings SET listed = false "
                "WHERE plugin_id = 'acme.hidden'"))
        await _migrate(db_url, up_to="head")
        async with engine.begin() as conn:
            assert await counts(conn) == {
                ("total", ""): 2, ("category", "image"): 2, ("type", "processor"): 2,
                ("permission", "files"): 2, ("permission", "net"): 1}
            await conn.execute(text(
                "UPDATE marketplace_listings SET listed = true, category = 'privacy' "
                "WHERE plugin_id = 'acme.hidden'"))
            await conn.execute(text(
                "DELETE FROM marketplace_listings WHERE plugin_id = 'acme.one'"))
            assert await counts(conn) == {
                ("total", ""): 2, ("category", "image"): 1, ("category", "privacy"): 1,
                ("type", "processor"): 2}
        await _migrate(db_url, down_to="0013")
        async with engine.connect() as conn:
            assert "marketplace_facet_counts" not in await conn.run_sync(
                lambda c: inspect(c).get_table_names())
            await conn.execute(text(  # no trigger left behind to fail on the missing table
                "UPDATE marketplace_listings SET listed = false"))
            await conn.rollback()
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM marketplace_listings"))
            await conn.execute(text("DELETE FROM developers WHERE id = :id"),
                               {"id": _uuid_param(conn, dev)})
            await conn.execute(text("DELETE FROM users WHERE id = :id"),
                               {"id": _uuid_param(conn, user)})
    finally:
        await engine.dispose()
        await _migrate(db_url, up_to="head")
    assert await check_async(db_url) == []


async def test_0015_announces_epoch_changes_on_postgresql_and_its_downgrade_stops(
    db_url: str,
) -> None:
    """0015's trigger is PostgreSQL's alone (SQLite's processes watch data_version); its
    downgrade drops the trigger and its function, and the upgrade puts them back."""
    async def notify_objects() -> tuple[int, int]:
        engine = create_migration_engine(db_url)
        try:
            async with engine.connect() as conn:
                if conn.dialect.name != "postgresql":
                    return (-1, -1)
                triggers = (await conn.execute(text(
                    "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_auth_epoch_notify'"
                ))).scalar_one()
                functions = (await conn.execute(text(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'users_auth_epoch_notify'"
                ))).scalar_one()
                return int(triggers), int(functions)
        finally:
            await engine.dispose()

    postgres = db_url.startswith("postgresql")
    assert await notify_objects() == ((1, 1) if postgres else (-1, -1))
    await _migrate(db_url, down_to="0014")
    assert await notify_objects() == ((0, 0) if postgres else (-1, -1))
    await _migrate(db_url, up_to="head")
    assert await notify_objects() == ((1, 1) if postgres else (-1, -1))
