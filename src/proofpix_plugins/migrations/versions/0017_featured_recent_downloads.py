"""Marketplace featured list: each listing's downloads of the last 30 days, kept as they change.

The featured list ranks listings by ``bayes(rating) * ln(1 + downloads over the last 30 days)``
(``marketplace/featured.py``). Computing it summed the 30 days of ``marketplace_downloads``
(~50,000 rows at the benchmark's size) and scored every listed listing on each cache miss:
~70-90 ms. Now:

- ``marketplace_listings.recent_downloads``: the sum of the listing's ``marketplace_downloads``
  over the 30 days ending ``marketplace_recent_window.through`` (one row). Triggers on
  ``marketplace_downloads`` add and subtract a row's downloads when its day lies in that window,
  so every writer (the batched counter flush, a bulk load, raw SQL) keeps it in its own
  transaction. Moving the window to a new day (``featured.roll_window``, run by the counters'
  background task) subtracts the days that leave and adds the days that enter; it first moves
  ``through`` with a compare-and-set, so one process does it. On PostgreSQL the trigger reads the
  window ``FOR SHARE``: a roll waits for in-flight writers, and a writer waits for the roll, so a
  row is counted exactly once.
- ``featured_score``: the score itself as a generated column of the rating and
  ``recent_downloads`` (virtual on SQLite, which cannot add a stored one; stored on PostgreSQL),
  indexed with ``listed``, so the top of the list is read from an index.

The window starts at today (UTC) with the existing rows summed once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

# ruff: noqa: S608  (every statement is built from this file's constants, never from input)
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PRIOR_MEAN * PRIOR_WEIGHT and PRIOR_WEIGHT of featured.py (3.0 and 5), as they are today.
_BAYES = "((rating_avg * rating_count + 15.0) / (rating_count + 5))"

_WINDOW_TABLE = (
    "CREATE TABLE marketplace_recent_window ("
    "id INTEGER NOT NULL, through DATE NOT NULL, "
    "CONSTRAINT pk_marketplace_recent_window PRIMARY KEY (id), "
    "CONSTRAINT ck_marketplace_recent_window_one_row CHECK (id = 1))"
)
_SCORE_INDEX = ("CREATE INDEX ix_marketplace_listings_listed_featured_score "
                "ON marketplace_listings (listed, featured_score)")


def _sqlite_in_window(row: str) -> str:
    return (f"EXISTS (SELECT 1 FROM marketplace_recent_window w WHERE {row}.day > "
            f"date(w.through, '-30 days') AND {row}.day <= w.through)")


def _sqlite_add(row: str, sign: str) -> str:
    return (f"UPDATE marketplace_listings SET recent_downloads = recent_downloads {sign} "
            f"{row}.downloads WHERE id = {row}.listing_id AND {row}.downloads <> 0 "
            f"AND {_sqlite_in_window(row)};")


_SQLITE_UP = [
    _WINDOW_TABLE,
    "INSERT INTO marketplace_recent_window (id, through) VALUES (1, :today)",
    "ALTER TABLE marketplace_listings ADD COLUMN recent_downloads BIGINT NOT NULL DEFAULT 0",
    "UPDATE marketplace_listings SET recent_downloads = coalesce((SELECT sum(d.downloads) "
    "FROM marketplace_downloads d WHERE d.listing_id = marketplace_listings.id AND "
    "d.day > date(:today, '-30 days') AND d.day <= :today), 0)",
    "ALTER TABLE marketplace_listings ADD COLUMN featured_score REAL GENERATED ALWAYS AS "
    f"({_BAYES} * ln(1 + max(recent_downloads, 0))) VIRTUAL",
    _SCORE_INDEX,
    "CREATE TRIGGER marketplace_recent_downloads_ai AFTER INSERT ON marketplace_downloads "
    f"BEGIN {_sqlite_add('new', '+')} END",
    "CREATE TRIGGER marketplace_recent_downloads_ad AFTER DELETE ON marketplace_downloads "
    f"BEGIN {_sqlite_add('old', '-')} END",
    "CREATE TRIGGER marketplace_recent_downloads_au "
    "AFTER UPDATE OF listing_id, day, downloads ON marketplace_downloads "
    f"BEGIN {_sqlite_add('old', '-')} {_sqlite_add('new', '+')} END",
]
_SQLITE_DOWN = [
    "DROP TRIGGER marketplace_recent_downloads_au",
    "DROP TRIGGER marketplace_recent_downloads_ad",
    "DROP TRIGGER marketplace_recent_downloads_ai",
    "DROP INDEX ix_marketplace_listings_listed_featured_score",
    "ALTER TABLE marketplace_listings DROP COLUMN featured_score",
    "ALTER TABLE marketplace_listings DROP COLUMN recent_downloads",
    "DROP TABLE marketplace_recent_window",
]
_PG_UP = [
    _WINDOW_TABLE,
    "INSERT INTO marketplace_recent_window (id, through) VALUES (1, :today)",
    "ALTER TABLE marketplace_listings ADD COLUMN recent_downloads bigint NOT NULL DEFAULT 0",
    "UPDATE marketplace_listings SET recent_downloads = d.n FROM (SELECT listing_id, "
    "sum(downloads) AS n FROM marketplace_downloads WHERE day > CAST(:today AS date) - 30 "
    "AND day <= CAST(:today AS date) GROUP BY listing_id) AS d "
    "WHERE d.listing_id = marketplace_listings.id",
    "ALTER TABLE marketplace_listings ADD COLUMN featured_score double precision GENERATED "
    f"ALWAYS AS ({_BAYES} * ln(1 + greatest(recent_downloads, 0))) STORED",
    _SCORE_INDEX,
    """CREATE FUNCTION marketplace_recent_downloads_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last date;
BEGIN
    SELECT through INTO last FROM marketplace_recent_window WHERE id = 1 FOR SHARE;
    IF TG_OP <> 'INSERT' AND OLD.downloads <> 0 AND OLD.day > last - 30 AND OLD.day <= last THEN
        UPDATE marketplace_listings SET recent_downloads = recent_downloads - OLD.downloads
        WHERE id = OLD.listing_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.downloads <> 0 AND NEW.day > last - 30 AND NEW.day <= last THEN
        UPDATE marketplace_listings SET recent_downloads = recent_downloads + NEW.downloads
        WHERE id = NEW.listing_id;
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER marketplace_recent_downloads_t "
    "AFTER INSERT OR DELETE OR UPDATE OF listing_id, day, downloads ON marketplace_downloads "
    "FOR EACH ROW EXECUTE FUNCTION marketplace_recent_downloads_trigger()",
]
_PG_DOWN = [
    "DROP TRIGGER marketplace_recent_downloads_t ON marketplace_downloads",
    "DROP FUNCTION marketplace_recent_downloads_trigger()",
    "DROP INDEX ix_marketplace_listings_listed_featured_score",
    "ALTER TABLE marketplace_listings DROP COLUMN featured_score",
    "ALTER TABLE marketplace_listings DROP COLUMN recent_downloads",
    "DROP TABLE marketplace_recent_window",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    today = sa.bindparam("today", datetime.now(UTC).date(), type_=sa.Date())
    for statement in _SQLITE_UP if sqlite else _PG_UP:
        if ":today" in statement:
            op.execute(sa.text(statement).bindparams(today))
        else:
            op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DOWN if sqlite else _PG_DOWN:
        op.execute(statement)
