"""Query strings become literal words only: FTS5 never sees an operator, junk matches nothing."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofpix_plugins.marketplace.search import terms


def _fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, "
                 "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")
    conn.executemany("INSERT INTO t (body) VALUES (?)", [
        ("exif cleaner strips gps",), ("watermark images",), ("NEAR AND OR NOT",),
        ("café déjà vu",), ("שלום עולם",), ("数据 分析",),
    ])
    return conn


def test_words_are_folded_split_and_capped() -> None:
    assert terms.tokens("  EXIF-Cleaner  gps_tag ") == ["exif", "cleaner", "gps", "tag"]
    assert terms.tokens("Café DÉJÀ") == ["cafe", "deja"]
    assert terms.tokens("a b c d e f g h i j") == list("abcdefgh")
    assert terms.tokens("exif exif EXIF") == ["exif"]
    assert terms.tokens("x" * 500) == ["x" * terms.MAX_TOKEN_CHARS]
    assert terms.tokens('"*^():-%_\0') == []


@pytest.mark.parametrize("hostile", [
    '"', '""', "'", "%", "_", "*", "^exif", "exif*", "NEAR(exif gps)", "exif AND gps",
    "exif OR watermark", "NOT exif", "body:exif", "{body}:exif", "(exif", "exif)", "-exif",
    "+exif", "exif NEAR/2 gps", "\0exif", "e\u0301xif", "\u202eexif", "שלום", "数据",
])
def test_hostile_queries_are_literal_words(hostile: str) -> None:
    conn = _fts()
    words = terms.tokens(hostile)
    if not words:
        return  # nothing searchable: the service answers an empty page without a query
    rows = conn.execute("SELECT body FROM t WHERE t MATCH ?", (terms.fts5_match(words),))
    found = [r[0] for r in rows]
    assert len(found) < 6  # never the whole table
    # Operators are plain words: "NOT exif" finds the row holding both words, not the others.
    if hostile == "NOT exif":
        assert found == []


def test_operator_words_match_themselves() -> None:
    conn = _fts()
    match = terms.fts5_match(terms.tokens("near and"))
    assert [r[0] for r in conn.execute("SELECT body FROM t WHERE t MATCH ?", (match,))] == [
        "NEAR AND OR NOT"]


def test_prefix_matching_for_words_longer_than_one_letter() -> None:
    assert terms.fts5_match(["ex", "a"]) == '"ex"* "a"'
    assert terms.tsquery(["ex", "a"]) == "'ex':* & 'a'"
    conn = _fts()
    rows = conn.execute("SELECT body FROM t WHERE t MATCH ?", (terms.fts5_match(["wat"]),))
    assert [r[0] for r in rows] == ["watermark images"]


def test_the_counted_term_is_normalized_and_anonymous() -> None:
    assert terms.analytics_term("  EXIF   Cleaner\n\tGPS ") == "exif cleaner gps"
    assert terms.analytics_term("a\0b") == "ab"
    assert len(terms.analytics_term("x" * 1000)) == terms.MAX_TERM_CHARS
    assert terms.analytics_term("   ") == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_text_ever_breaks_fts5_or_matches_everything(text: str) -> None:
    conn = _fts()
    words = terms.tokens(text)
    assert len(words) <= terms.MAX_TOKENS
    if words:
        rows = conn.execute("SELECT count(*) FROM t WHERE t MATCH ?",
                            (terms.fts5_match(words),)).fetchone()
        assert rows[0] < 6
