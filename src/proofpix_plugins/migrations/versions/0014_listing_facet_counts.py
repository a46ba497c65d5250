"""Marketplace discovery: the unfiltered facet counts kept in a summary table.

``marketplace_facet_counts (facet, value, n)``: how many *listed* listings have each category
(``facet = 'category'``), each type (``'type'``), each permission (``'permission'``, one per
element of the listing's permission array, a repeated element twice, as the grouped count does)
and how many there are in all (``('total', '')``). A search with no text and no filter (browse,
any sort) reads these few dozen rows instead of grouping ~all listings on every call.

Kept by triggers on ``marketplace_listings`` (insert, delete, and update of ``listed``,
``category``, ``type`` or ``permissions``), so every writer -- ``catalog.refresh_listed`` after
a publish, yank, suspension, re-scan or approval, a bulk insert, raw SQL -- changes the counts
in its own transaction; no code path can forget to. Each change subtracts the old row's
contribution (if it was listed) and adds the new one's (if it is listed). Rows are upserted
``n = n + delta`` and left at 0 rather than deleted; readers skip ``n = 0``. PostgreSQL: one
``plpgsql`` trigger function; each call upserts ``('total', '')`` first, so concurrent writers
queue on that row and never hold the other summary rows in different orders.

The existing listed rows are counted once here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE_TABLE = (
    "CREATE TABLE marketplace_facet_counts ("
    "facet VARCHAR(16) NOT NULL, value VARCHAR(200) NOT NULL, n INTEGER NOT NULL, "
    "CONSTRAINT pk_marketplace_facet_counts PRIMARY KEY (facet, value))"
)


# One listing's contribution, added with sign SIGN (``-`` or nothing) for the row ROW (``old``
# or ``new``); the permission elements are grouped first, so a repeated element counts twice.
_SQLITE_DELTA = (
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'total', '', SIGN1 WHERE ROW.listed UPSERT; "
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'category', ROW.category, SIGN1 WHERE ROW.listed UPSERT; "
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'type', ROW.type, SIGN1 WHERE ROW.listed UPSERT; "
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'permission', value, SIGNcount(*) FROM json_each(CASE json_type(ROW.permissions) "
    "WHEN 'array' THEN ROW.permissions ELSE '[]' END) WHERE ROW.listed GROUP BY value UPSERT;"
).replace("UPSERT", "ON CONFLICT (facet, value) DO UPDATE SET n = n + excluded.n")


def _sqlite_delta(row: str, sign: str) -> list[str]:
    return [_SQLITE_DELTA.replace("ROW", row).replace("SIGN", sign)]


_SQLITE_UP = [
    _CREATE_TABLE,
    "CREATE TRIGGER marketplace_facet_counts_ai AFTER INSERT ON marketplace_listings BEGIN "
    + " ".join(_sqlite_delta("new", "")) + " END",
    "CREATE TRIGGER marketplace_facet_counts_ad AFTER DELETE ON marketplace_listings BEGIN "
    + " ".join(_sqlite_delta("old", "-")) + " END",
    "CREATE TRIGGER marketplace_facet_counts_au "
    "AFTER UPDATE OF listed, category, type, permissions ON marketplace_listings BEGIN "
    + " ".join(_sqlite_delta("old", "-") + _sqlite_delta("new", "")) + " END",
]
# The total, categories and types are counted alike on both databases; permissions differ.
_FILL = [
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'total', '', count(*) FROM marketplace_listings WHERE listed",
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'category', category, count(*) FROM marketplace_listings WHERE listed "
    "GROUP BY category",
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'type', type, count(*) FROM marketplace_listings WHERE listed GROUP BY type",
]
_SQLITE_FILL = [
    *_FILL,
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'permission', j.value, count(*) FROM marketplace_listings AS l, "
    "json_each(CASE json_type(l.permissions) WHEN 'array' THEN l.permissions ELSE '[]' END) "
    "AS j WHERE l.listed GROUP BY j.value",
]
_SQLITE_DOWN = [
    "DROP TRIGGER marketplace_facet_counts_au",
    "DROP TRIGGER marketplace_facet_counts_ad",
    "DROP TRIGGER marketplace_facet_counts_ai",
    "DROP TABLE marketplace_facet_counts",
]

_PG_UP = [
    _CREATE_TABLE,
    """CREATE FUNCTION marketplace_facet_counts_add(
    c varchar, t varchar, p jsonb, d integer) RETURNS void LANGUAGE sql AS $$
INSERT INTO marketplace_facet_counts AS f (facet, value, n)
SELECT facet, value, (sum(k) * d)::integer FROM (
    SELECT 0 AS o, 'total' AS facet, '' AS value, 1 AS k
    UNION ALL SELECT 1, 'category', c, 1
    UNION ALL SELECT 2, 'type', t, 1
    UNION ALL SELECT 3, 'permission', e, 1 FROM jsonb_array_elements_text(
        CASE jsonb_typeof(p) WHEN 'array' THEN p ELSE '[]'::jsonb END) AS e
) AS x GROUP BY facet, value ORDER BY min(o), value
ON CONFLICT (facet, value) DO UPDATE SET n = f.n + excluded.n
$$""",
    """CREATE FUNCTION marketplace_facet_counts_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.listed THEN
            PERFORM marketplace_facet_counts_add(OLD.category, OLD.type, OLD.permissions, -1);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.listed THEN
            PERFORM marketplace_facet_counts_add(NEW.category, NEW.type, NEW.permissions, 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER marketplace_facet_counts_t "
    "AFTER INSERT OR DELETE OR UPDATE OF listed, category, type, permissions "
    "ON marketplace_listings FOR EACH ROW EXECUTE FUNCTION marketplace_facet_counts_trigger()",
]
_PG_FILL = [
    *_FILL,
    "INSERT INTO marketplace_facet_counts (facet, value, n) "
    "SELECT 'permission', e, count(*) FROM marketplace_listings AS l, "
    "jsonb_array_elements_text(CASE jsonb_typeof(l.permissions) WHEN 'array' "
    "THEN l.permissions ELSE '[]'::jsonb END) AS e WHERE l.listed GROUP BY e",
]
_PG_DOWN = [
    "DROP TRIGGER marketplace_facet_counts_t ON marketplace_listings",
    "DROP FUNCTION marketplace_facet_counts_trigger()",
    "DROP FUNCTION marketplace_facet_counts_add(varchar, varchar, jsonb, integer)",
    "DROP TABLE marketplace_facet_counts",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    for statement in (_SQLITE_UP + _SQLITE_FILL) if sqlite else (_PG_UP + _PG_FILL):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_DOWN if dialect == "sqlite" else _PG_DOWN:
        op.execute(statement)
