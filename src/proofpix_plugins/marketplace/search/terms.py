"""Turning a user's query string into safe search tokens, and into an analytics term.

Nothing of the raw query reaches an FTS parser: the query is NFKC-normalized, lowercased,
stripped of combining marks (FTS5's ``remove_diacritics`` does the same to the index) and cut
into runs of letters and digits. Every FTS operator (``AND``, ``NEAR``, ``col:``, ``^``, ``*``,
quotes, parentheses) is punctuation or becomes a plain quoted word, so a hostile string can only
ever be a conjunction of literal words. A query with no word at all matches nothing (never the
whole catalogue).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: Longest ``q`` accepted; longer is a 422 on ``q`` (the route declares it).
MAX_QUERY_CHARS: Final = 200
#: Words beyond this many are ignored: each one is another index lookup.
MAX_TOKENS: Final = 8
#: A longer word is cut: no indexed word is that long, and the prefix still matches.
MAX_TOKEN_CHARS: Final = 40
#: Search terms are counted truncated to this (the column is 200 characters).
MAX_TERM_CHARS: Final = 100

# Letters and digits (any script); '_' is a separator, as for FTS5's unicode61 tokenizer.
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).lower())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and c != "\0")
    return unicodedata.normalize("NFC", kept)


def tokens(query: str) -> list[str]:
    """The words a query searches for, in order, deduplicated, at most ``MAX_TOKENS``."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(_fold(query)):
        seen.setdefault(word[:MAX_TOKEN_CHARS], None)
        if len(seen) == MAX_TOKENS:
            break
    return list(seen)


def analytics_term(query: str) -> str:
    """The counted form of a query: lowercased, whitespace collapsed, truncated; "" to skip."""
    text = "".join(c for c in query if c.isprintable() or c.isspace())
    return _SPACE.sub(" ", text.lower()).strip()[:MAX_TERM_CHARS]


def _fts5_words(words: list[str]) -> list[str]:
    # The words hold only letters and digits, so quoting cannot be escaped out of; the
    # doubling is a second lock should the word pattern ever widen.
    parts = []
    for word in words:
        quoted = '"' + word.replace('"', '""') + '"'
        parts.append(quoted + "*" if len(word) > 1 else quoted)
    return parts


def fts5_match(words: list[str]) -> str:
    """An FTS5 MATCH expression: every word as a quoted string, prefix-matched when longer than
    one character (typo tolerance for a query still being typed), all required."""
    return " ".join(_fts5_words(words))


def fts5_any(words: list[str]) -> str:
    """The same words, any one of them (relevance's name tier)."""
    return " OR ".join(_fts5_words(words))


def _tsquery_words(words: list[str], weights: str) -> list[str]:
    parts = []
    for word in words:
        quoted = "'" + word.replace("'", "''").replace("\\", "\\\\") + "'"
        parts.append(quoted + ":*" + weights if len(word) > 1
                     else quoted + (":" + weights if weights else ""))
    return parts


def tsquery(words: list[str]) -> str:
    """The same expression for PostgreSQL's ``to_tsquery('simple', ...)``."""
    return " & ".join(_tsquery_words(words, ""))


def tsquery_any(words: list[str], weights: str = "") -> str:
    """Any one of the words; ``weights`` ("A") limits the match to lexemes of that weight."""
    return " | ".join(_tsquery_words(words, weights))
