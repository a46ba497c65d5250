"""What the schema knows about marketplace discovery beyond the listing tables themselves.

The full-text index is dialect-specific DDL (migrations ``0009`` and ``0013``): on SQLite a
contentless FTS5 table ``marketplace_search_fts`` (plus FTS5's shadow tables) whose rowid is the
listing's ``search_key``, kept in sync by triggers on ``marketplace_listings`` (the insert
trigger also assigns the key), and a covering index from the key to what search reads of a
listing; on PostgreSQL a generated ``tsvector`` column with a GIN index. The ORM models cannot
declare these, so the drift check (``migrations/runner.py``) skips the names listed here, and
nothing else. (``search_key`` itself and its unique index are ordinary and declared on the
model.)

The index on ``marketplace_listings.updated_at`` is ordinary and declared here: the discovery
caches read ``max(updated_at)`` as their validity token on every request, and the ``updated``
sort walks it.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from proofpix_plugins.models.base import Base
from proofpix_plugins.models.marketplace import FeaturedEntry, MarketplaceListing

#: The FTS5 virtual table (SQLite) and the prefix FTS5 gives its shadow tables.
FTS_TABLE: Final = "marketplace_search_fts"
#: The generated tsvector column on marketplace_listings and its GIN index (PostgreSQL).
TSVECTOR_COLUMN: Final = "search_vector"
TSVECTOR_INDEX: Final = "ix_marketplace_listings_search_vector"
#: The triggers keeping the FTS5 table in step with the listings and the key fixed (SQLite).
FTS_TRIGGERS: Final = (
    "marketplace_search_fts_ai", "marketplace_search_fts_ad", "marketplace_search_fts_au",
    "marketplace_listings_search_key_bu",
)
#: SQLite only: (search_key, listed, category, type, verified, downloads_total, plugin_id,
#: permissions, id), so the join from FTS5 hits reads no listing row.
SEARCH_KEY_COVER_INDEX: Final = "ix_marketplace_listings_search_key_cover"
#: Migration 0016: the names alone, for relevance's first tier (SQLite: a contentless FTS5 table
#: keyed by ``search_key``; PostgreSQL: a GIN index on ``to_tsvector('simple', name)``).
NAME_FTS_TABLE: Final = "marketplace_search_name_fts"
NAME_VECTOR_INDEX: Final = "ix_marketplace_listings_name_vector"
NAME_TRIGGERS: Final = ("marketplace_search_name_ad", "marketplace_search_name_au")
#: Migration 0016: category, type and permission set as one integer (``search/facet_code.py``);
#: SQLite keeps it by trigger and covers (search_key, listed, facet_code), PostgreSQL generates it.
FACET_CODE_COLUMN: Final = "facet_code"
FACET_CODE_TRIGGER: Final = "marketplace_listings_facet_code_au"
SEARCH_KEY_FACETS_INDEX: Final = "ix_marketplace_listings_search_key_listed_facet_code"
LISTED_FACETS_INDEX: Final = "ix_marketplace_listings_listed_facet_code_verified"
#: Migration 0017: each listing's downloads over the 30 days ending the window's one row, kept
#: by triggers on ``marketplace_downloads``; the featured score generated from it and indexed.
RECENT_WINDOW_TABLE: Final = "marketplace_recent_window"
RECENT_DOWNLOADS_COLUMN: Final = "recent_downloads"
FEATURED_SCORE_COLUMN: Final = "featured_score"
FEATURED_SCORE_INDEX: Final = "ix_marketplace_listings_listed_featured_score"



class MarketplaceFacetCount(Base):
    """How many listed listings hold each facet value, kept by triggers (migration 0014).

    ``facet`` is ``category``, ``type``, ``permission`` (one per element of a listing's
    permission array) or ``total`` (``value = ''``). Search reads it when it has neither text
    nor a filter; the triggers on ``marketplace_listings`` (names in :data:`FACET_TRIGGERS`)
    change it in the writer's transaction. Rows at ``n = 0`` stay.
    """

    __tablename__ = "marketplace_facet_counts"

    facet: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


#: The triggers keeping ``marketplace_facet_counts`` (SQLite: three; PostgreSQL: one, calling
#: ``marketplace_facet_counts_trigger()``, which calls ``marketplace_facet_counts_add()``).
FACET_TRIGGERS: Final = (
    "marketplace_facet_counts_ai", "marketplace_facet_counts_ad", "marketplace_facet_counts_au",
    "marketplace_facet_counts_t",
)


Index("ix_marketplace_listings_updated_at", MarketplaceListing.updated_at)
Index("ix_marketplace_featured_created_at", FeaturedEntry.created_at)


def is_search_object(name: str | None, type_: str) -> bool:
    """Whether a schema object is discovery's dialect-specific search DDL (not drift)."""
    if name is None:
        return False
    if type_ == "table":
        return name == RECENT_WINDOW_TABLE or any(
            name == t or name.startswith(t + "_") for t in (FTS_TABLE, NAME_FTS_TABLE))
    if type_ == "column":
        return name in (TSVECTOR_COLUMN, FACET_CODE_COLUMN, RECENT_DOWNLOADS_COLUMN,
                        FEATURED_SCORE_COLUMN)
    if type_ == "index":
        return name in (TSVECTOR_INDEX, SEARCH_KEY_COVER_INDEX, NAME_VECTOR_INDEX,
                        SEARCH_KEY_FACETS_INDEX, LISTED_FACETS_INDEX, FEATURED_SCORE_INDEX)
    return False
