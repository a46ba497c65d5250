"""Marketplace search: a name-only text index and one integer per listing for facet counting.

Two things a broad text query (``exif`` matches a third of the catalogue) was paying for on
every hit:

- **Relevance** scored every hit before the first page was known. Relevance now ranks listings
  whose *name* matches a query word first (``search/service.py``), so the first pages only need
  the text score of the name matches, found through an index of the names alone: on SQLite the
  contentless FTS5 table ``marketplace_search_name_fts`` (rowid = ``search_key``, same tokenizer
  and prefixes as ``marketplace_search_fts``), kept by the same triggers; on PostgreSQL a GIN
  index on ``to_tsvector('simple', name)`` (the name part of ``search_vector``).
- **Facet counts** grouped the hits by (category, type, permissions) text. ``facet_code`` holds
  the three as one integer: category number << 16 | type number << 8 | one bit per permission
  (numbers are 1-based positions in the vocabularies below; 0 = not one of them). Grouping the
  hits by it is an integer hash instead of text keys (``search/facet_code.py`` decodes it). On
  SQLite a plain column written by the listing triggers (SQLite cannot add a stored generated
  column to an existing table, and a virtual one is not read from a covering index), with a
  covering index ``(search_key, listed, facet_code)``; on PostgreSQL a stored generated column.
  Both get ``(listed, facet_code, verified)`` for counts without text.

The vocabularies are the manifest's categories and types and the eight permissions of SPEC §2
as they are today, copied here (a migration must not change when the code does). A new value
needs a migration that rewrites the code; ``tests/marketplace/test_facet_code.py`` fails until
one exists.

SQLite's insert trigger ``marketplace_search_fts_ai`` is rebuilt to write the name index and
the code too: it also assigns ``search_key``, and SQLite does not order triggers, so one trigger
keeps the steps in order.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

# ruff: noqa: S608  (every statement is built from this file's constants, never from input)
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CATEGORIES = ("metadata", "privacy", "integration", "image", "workflow", "security",
               "analytics", "other")
_TYPES = ("processor", "connector", "analyzer", "utility")
_PERMISSIONS = ("files", "images", "metadata", "storage", "http", "crypto", "events", "secrets")


def _numbered(column: str, values: tuple[str, ...]) -> str:
    cases = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values, start=1))
    return f"(CASE {column} {cases} ELSE 0 END)"


def _sqlite_code(row: str) -> str:
    bits = " ".join(f"WHEN '{v}' THEN {1 << i}" for i, v in enumerate(_PERMISSIONS))
    # sum(DISTINCT …): a repeated element is one bit; anything not an array is no permission.
    mask = (f"coalesce((SELECT sum(DISTINCT CASE value {bits} ELSE 0 END) FROM json_each("
            f"CASE json_type({row}.permissions) WHEN 'array' THEN {row}.permissions "
            "ELSE '[]' END)), 0)")
    return (f"(({_numbered(row + '.category', _CATEGORIES)} << 16) | "
            f"({_numbered(row + '.type', _TYPES)} << 8) | {mask})")


def _pg_code() -> str:
    bits = " | ".join(f"(CASE WHEN permissions ? '{v}' THEN {1 << i} ELSE 0 END)"
                      for i, v in enumerate(_PERMISSIONS))
    return (f"(({_numbered('category', _CATEGORIES)} << 16) | "
            f"({_numbered('type', _TYPES)} << 8) | "
            f"(CASE jsonb_typeof(permissions) WHEN 'array' THEN {bits} ELSE 0 END))")


# Counting without text (filters only): the listed rows' codes and the verified flag, read from
# the index alone and already in code order.
_LISTED_FACETS = ("CREATE INDEX ix_marketplace_listings_listed_facet_code_verified "
                  "ON marketplace_listings (listed, facet_code, verified)")

_SQLITE_UP = [
    "ALTER TABLE marketplace_listings ADD COLUMN facet_code INTEGER NOT NULL DEFAULT 0",
    "UPDATE marketplace_listings SET facet_code = " + _sqlite_code("marketplace_listings"),
    "CREATE INDEX ix_marketplace_listings_search_key_listed_facet_code ON marketplace_listings "
    "(search_key, listed, facet_code)",
    _LISTED_FACETS,
    "CREATE VIRTUAL TABLE marketplace_search_name_fts USING fts5(name, content = '', "
    "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
    "INSERT INTO marketplace_search_name_fts (rowid, name) "
    "SELECT search_key, name FROM marketplace_listings",
    "DROP TRIGGER marketplace_search_fts_ai",
    "CREATE TRIGGER marketplace_search_fts_ai AFTER INSERT ON marketplace_listings BEGIN "
    "UPDATE marketplace_listings SET search_key = "
    "(SELECT max(search_key) FROM marketplace_listings) + 1 "
    "WHERE rowid = new.rowid AND new.search_key = 0; "
    f"UPDATE marketplace_listings SET facet_code = {_sqlite_code('new')} "
    "WHERE rowid = new.rowid; "
    "INSERT INTO marketplace_search_fts (rowid, name, description, tags, plugin_id) "
    "SELECT search_key, new.name, new.description, new.tags, new.plugin_id "
    "FROM marketplace_listings WHERE rowid = new.rowid; "
    "INSERT INTO marketplace_search_name_fts (rowid, name) "
    "SELECT search_key, new.name FROM marketplace_listings WHERE rowid = new.rowid; END",
    "CREATE TRIGGER marketplace_search_name_ad AFTER DELETE ON marketplace_listings BEGIN "
    "INSERT INTO marketplace_search_name_fts "
    "(marketplace_search_name_fts, rowid, name) "
    "VALUES ('delete', old.search_key, old.name); END",
    "CREATE TRIGGER marketplace_search_name_au "
    "AFTER UPDATE OF name ON marketplace_listings BEGIN "
    "INSERT INTO marketplace_search_name_fts "
    "(marketplace_search_name_fts, rowid, name) "
    "VALUES ('delete', old.search_key, old.name); "
    "INSERT INTO marketplace_search_name_fts (rowid, name) VALUES (new.search_key, new.name); END",
    "CREATE TRIGGER marketplace_listings_facet_code_au "
    "AFTER UPDATE OF category, type, permissions ON marketplace_listings BEGIN "
    f"UPDATE marketplace_listings SET facet_code = {_sqlite_code('new')} "
    "WHERE rowid = new.rowid; END",
]
# 0013's insert trigger, as it was.
_SQLITE_DOWN = [
    "DROP TRIGGER marketplace_listings_facet_code_au",
    "DROP TRIGGER marketplace_search_name_au",
    "DROP TRIGGER marketplace_search_name_ad",
    "DROP TRIGGER marketplace_search_fts_ai",
    "CREATE TRIGGER marketplace_search_fts_ai AFTER INSERT ON marketplace_listings BEGIN "
    "UPDATE marketplace_listings SET search_key = "
    "(SELECT max(search_key) FROM marketplace_listings) + 1 "
    "WHERE rowid = new.rowid AND new.search_key = 0; "
    "INSERT INTO marketplace_search_fts (rowid, name, description, tags, plugin_id) "
    "SELECT search_key, new.name, new.description, new.tags, new.plugin_id "
    "FROM marketplace_listings WHERE rowid = new.rowid; END",
    "DROP TABLE marketplace_search_name_fts",
    "DROP INDEX ix_marketplace_listings_search_key_listed_facet_code",
    "DROP INDEX ix_marketplace_listings_listed_facet_code_verified",
    "ALTER TABLE marketplace_listings DROP COLUMN facet_code",
]
_PG_UP = [
    "ALTER TABLE marketplace_listings ADD COLUMN facet_code integer "
    f"GENERATED ALWAYS AS ({_pg_code()}) STORED",
    "CREATE INDEX ix_marketplace_listings_name_vector ON marketplace_listings "
    "USING gin (to_tsvector('simple'::regconfig, name))",
    _LISTED_FACETS,
]
_PG_DOWN = [
    "DROP INDEX ix_marketplace_listings_listed_facet_code_verified",
    "DROP INDEX ix_marketplace_listings_name_vector",
    "ALTER TABLE marketplace_listings DROP COLUMN facet_code",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_UP if sqlite else _PG_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DOWN if sqlite else _PG_DOWN:
        op.execute(statement)
