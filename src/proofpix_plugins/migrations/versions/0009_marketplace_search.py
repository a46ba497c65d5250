"""Marketplace discovery: the full-text index over listings and the validity-token indexes.

SQLite: an FTS5 table ``marketplace_search_fts`` (its own content; ``listing_id`` unindexed,
then name, description, tags, plugin_id) filled from the listings and kept in step by three
triggers. Its update trigger fires only when an indexed column changes, so the download
counters' ``downloads_total`` updates never touch the index. Not external-content: that would
tie the index to the listings' implicit rowids, which ``VACUUM`` may renumber.

PostgreSQL: a stored generated ``tsvector`` column ``search_vector`` (name weight A, plugin id
and tags B, description D; the ``simple`` configuration, no stemming, as FTS5's unicode61)
with a GIN index; prefix matching (``tok:*``) serves short queries.

Both: an index on ``marketplace_listings.updated_at`` and on ``marketplace_featured.created_at``
(the caches' validity token reads their maxima on every request).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE marketplace_search_fts USING fts5("
    "listing_id UNINDEXED, name, description, tags, plugin_id, "
    "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
    "INSERT INTO marketplace_search_fts (listing_id, name, description, tags, plugin_id) "
    "SELECT id, name, description, tags, plugin_id FROM marketplace_listings",
    "CREATE TRIGGER marketplace_search_fts_ai AFTER INSERT ON marketplace_listings BEGIN "
    "INSERT INTO marketplace_search_fts (listing_id, name, description, tags, plugin_id) "
    "VALUES (new.id, new.name, new.description, new.tags, new.plugin_id); END",
    "CREATE TRIGGER marketplace_search_fts_ad AFTER DELETE ON marketplace_listings BEGIN "
    "DELETE FROM marketplace_search_fts WHERE listing_id = old.id; END",
    "CREATE TRIGGER marketplace_search_fts_au "
    "AFTER UPDATE OF name, description, tags, plugin_id ON marketplace_listings BEGIN "
    "DELETE FROM marketplace_search_fts WHERE listing_id = old.id; "
    "INSERT INTO marketplace_search_fts (listing_id, name, description, tags, plugin_id) "
    "VALUES (new.id, new.name, new.description, new.tags, new.plugin_id); END",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS marketplace_search_fts_au",
    "DROP TRIGGER IF EXISTS marketplace_search_fts_ad",
    "DROP TRIGGER IF EXISTS marketplace_search_fts_ai",
    "DROP TABLE IF EXISTS marketplace_search_fts",
]

_PG_UP = [
    "ALTER TABLE marketplace_listings ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, translate(plugin_id, '.-', '  ')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(tags::text, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'D')"
    ") STORED",
    "CREATE INDEX ix_marketplace_listings_search_vector ON marketplace_listings "
    "USING gin (search_vector)",
]
_PG_DOWN = [
    "DROP INDEX IF EXISTS ix_marketplace_listings_search_vector",
    "ALTER TABLE marketplace_listings DROP COLUMN IF EXISTS search_vector",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _PG_UP:
        op.execute(statement)
    op.create_index(
        "ix_marketplace_listings_updated_at", "marketplace_listings", ["updated_at"]
    )
    op.create_index(
        "ix_marketplace_featured_created_at", "marketplace_featured", ["created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_marketplace_featured_created_at", table_name="marketplace_featured")
    op.drop_index("ix_marketplace_listings_updated_at", table_name="marketplace_listings")
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_DOWN if dialect == "sqlite" else _PG_DOWN:
        op.execute(statement)
