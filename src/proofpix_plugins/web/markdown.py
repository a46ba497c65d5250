"""Plugin-supplied text (names, descriptions, READMEs, changelogs, review text) as safe HTML.

The text is untrusted: Markdown is rendered by markdown-it-py with raw HTML disabled (``<script>``
comes out as text), then the result is sanitized by nh3 (Rust's ammonia) against a small
allow-list, so even a renderer bug cannot let a script, an event handler, a style or a
``javascript:`` link through. Links get ``rel="noopener noreferrer nofollow"``; images are not
allowed at all (a plugin must not make the console fetch from its server).
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# Inline and block formatting only: no img, no iframe, no form elements, no style attributes.
_TAGS = frozenset({
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
})
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Longer plugin text is cut before rendering: the manifest caps descriptions at 2000 chars, and
# README-sized text must never make a page slow.
MAX_SOURCE_CHARS = 100_000

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable(
    "strikethrough")


def render_markdown(text: object) -> Markup:
    """Markdown from a plugin, rendered and sanitized; safe to put in a page as is."""
    source = "" if text is None else str(text)[:MAX_SOURCE_CHARS]
    html = _md.render(source)
    clean = nh3.clean(html, tags=set(_TAGS), attributes=_ATTRIBUTES,
                      url_schemes=set(_URL_SCHEMES), link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 - sanitized by nh3 on the line above
