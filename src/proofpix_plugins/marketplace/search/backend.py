"""The full-text part of a search, one interface with a backend per dialect.

SQLite: the contentless FTS5 table ``marketplace_search_fts`` joined on its rowid, the
listing's ``search_key`` (migration 0013); relevance is BM25 with column weights (name 10,
plugin id 6, tags 4, description 2). PostgreSQL: the generated
``search_vector`` column and its GIN index; relevance is ``ts_rank`` (weights A name, B plugin id
and tags, D description). Both receive only the words of ``terms.tokens``.

``in_name`` is relevance's first tier (a listing whose name matches any word ranks above one
whose name matches none), read from the names' own index (migration 0016) so the first pages
score only the name matches; ``not_in_name`` is the second tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Integer,
    column,
    func,
    literal_column,
    not_,
    select,
    table,
)

from proofpix_plugins.marketplace.catalog import AnySelect, L
from proofpix_plugins.marketplace.search import terms
from proofpix_plugins.models.marketplace_search import (
    FACET_CODE_COLUMN,
    FTS_TABLE,
    NAME_FTS_TABLE,
    TSVECTOR_COLUMN,
)

_FTS = table(FTS_TABLE, column("rowid", BigInteger()))
_NAME_FTS = table(NAME_FTS_TABLE, column("rowid", BigInteger()))
_VECTOR: ColumnElement[Any] = literal_column(f"marketplace_listings.{TSVECTOR_COLUMN}")
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
#: ``search/facet_code.py``; not on the ORM model (dialect-specific DDL, like the vector).
FACET_CODE: ColumnElement[int] = literal_column(
    f"marketplace_listings.{FACET_CODE_COLUMN}", type_=Integer())


class TextBackend(Protocol):
    #: Whether ``GROUP BY GROUPING SETS`` is available (PostgreSQL; SQLite has none).
    grouping_sets: bool

    def restrict(self, stmt: AnySelect, words: list[str]) -> AnySelect:
        """``stmt`` (selecting from listings) limited to listings matching every word."""

    def relevance(self, words: list[str]) -> ColumnElement[float]:
        """Higher is better; only valid in a statement ``restrict(words)`` was applied to."""

    def json_elements(self, column_: Any) -> Any:
        """A table-valued function yielding a JSON array's string elements as ``value``."""

    def in_name(self, words: list[str]) -> ColumnElement[bool]:
        """The listing's name matches at least one word (through the names' index)."""

    def not_in_name(self, words: list[str]) -> ColumnElement[bool]:
        """The negation of :meth:`in_name`, cheap on rows ``restrict(words)`` already holds."""


@dataclass(frozen=True)
class SqliteText:
    grouping_sets: bool = False

    def restrict(self, stmt: AnySelect, words: list[str]) -> AnySelect:
        match = literal_column(FTS_TABLE).op("MATCH")(terms.fts5_match(words))
        return stmt.join(_FTS, _FTS.c.rowid == L.search_key).where(match)

    def relevance(self, words: list[str]) -> ColumnElement[float]:
        # bm25 is "lower is better" and takes a weight per column (name, description, tags,
        # plugin id).
        rank = func.bm25(literal_column(FTS_TABLE), 10.0, 2.0, 4.0, 6.0, type_=Float)
        return -rank

    def json_elements(self, column_: Any) -> Any:
        return func.json_each(column_).table_valued("value")

    def _names(self, words: list[str]) -> Any:
        match = literal_column(NAME_FTS_TABLE).op("MATCH")(terms.fts5_any(words))
        return select(_NAME_FTS.c.rowid).where(match)

    def in_name(self, words: list[str]) -> ColumnElement[bool]:
        return L.search_key.in_(self._names(words))

    def not_in_name(self, words: list[str]) -> ColumnElement[bool]:
        return L.search_key.not_in(self._names(words))


@dataclass(frozen=True)
class PostgresText:
    grouping_sets: bool = True

    def _query(self, words: list[str]) -> Any:
        return func.to_tsquery(_SIMPLE, terms.tsquery(words))

    def restrict(self, stmt: AnySelect, words: list[str]) -> AnySelect:
        return stmt.where(_VECTOR.op("@@")(self._query(words)))

    def relevance(self, words: list[str]) -> ColumnElement[float]:
        return func.ts_rank(_VECTOR, self._query(words), type_=Float)

    def json_elements(self, column_: Any) -> Any:
        return func.jsonb_array_elements_text(column_).table_valued("value")

    def in_name(self, words: list[str]) -> ColumnElement[bool]:
        # The expression of migration 0016's GIN index, so the planner ANDs the two bitmaps.
        name = func.to_tsvector(_SIMPLE, L.name)
        match: ColumnElement[bool] = name.op("@@", return_type=Boolean)(
            func.to_tsquery(_SIMPLE, terms.tsquery_any(words)))
        return match

    def not_in_name(self, words: list[str]) -> ColumnElement[bool]:
        # The same set read from the stored vector's A-weighted (name) lexemes: no to_tsvector
        # per hit.
        named = func.to_tsquery(_SIMPLE, terms.tsquery_any(words, "A"))
        match: ColumnElement[bool] = _VECTOR.op("@@", return_type=Boolean)(named)
        return not_(match)


def backend_for(dialect: str) -> SqliteText | PostgresText:
    return PostgresText() if dialect == "postgresql" else SqliteText()
