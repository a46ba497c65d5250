"""The public marketplace: ``/`` (search with facets and sorts, the featured list) and
``/marketplace/{pluginId}`` (a listing). Reads call the services the discovery API calls
(``search``, ``featured``, ``listing_detail``) with the same cache and search-term counter, so
no rule exists twice. Anyone may read; nothing here needs a session."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import NotFound
from proofpix_plugins.marketplace import featured, reviews
from proofpix_plugins.marketplace.discovery_cache import DiscoveryCache
from proofpix_plugins.marketplace.listing_detail import listing_detail
from proofpix_plugins.marketplace.search import SearchQuery, SearchResult, SearchSort, search
from proofpix_plugins.marketplace.search.terms import MAX_QUERY_CHARS, analytics_term
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.packages.manifest import CATEGORIES, PLUGIN_ID_PATTERN, PLUGIN_TYPES
from proofpix_plugins.packages.permissions import PERMISSION_ORDER
from proofpix_plugins.web.auth import Console, can_manage
from proofpix_plugins.web.pages.common import is_htmx, page, route_kwargs
from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from proofpix_plugins.web.templating import render

router = APIRouter()
PAGE_SIZE = 20
FEATURED_SHOWN = 6
REVIEWS_SHOWN = 20
_PLUGIN_ID = re.compile(f"^{PLUGIN_ID_PATTERN}$")
SORTS: dict[str, str] = {
    "": "Best match", "downloads": "Most downloaded", "rating": "Best rated",
    "updated": "Recently updated", "name": "Name",
}


def _cache(request: Request) -> DiscoveryCache | None:
    cache: DiscoveryCache | None = getattr(request.app.state, "discovery_cache", None)
    return cache


def _one_of(params: QueryParams, name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    value = params.get(name)
    return value if value in allowed else None


def parse_query(params: QueryParams) -> SearchQuery:
    """The search the query string asks for; anything out of range is dropped, never a 500."""
    q = (params.get("q") or "").strip()[:MAX_QUERY_CHARS] or None
    perms = tuple(dict.fromkeys(p for p in params.getlist("permission")
                                if p in PERMISSION_ORDER))
    verified = {"true": True, "false": False}.get(params.get("verified") or "")
    sort_raw = _one_of(params, "sort", [s.value for s in SearchSort])
    raw_page = params.get("page") or "1"
    number = int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 1
    return SearchQuery(
        q=q, category=_one_of(params, "category", CATEGORIES),
        type=_one_of(params, "type", PLUGIN_TYPES), permissions=perms, verified=verified,
        sort=SearchSort(sort_raw) if sort_raw else None, page=max(1, number), limit=PAGE_SIZE)


def _page_link(query: SearchQuery, number: int) -> str:
    from urllib.parse import urlencode

    pairs: list[tuple[str, str]] = []
    for name, value in (("q", query.q), ("category", query.category), ("type", query.type),
                        ("sort", query.sort.value if query.sort else None)):
        if value:
            pairs.append((name, value))
    pairs += [("permission", p) for p in query.permissions]
    if query.verified is not None:
        pairs.append(("verified", "true" if query.verified else "false"))
    pairs.append(("page", str(number)))
    return "/?" + urlencode(pairs)


@page
async def home(request: Request, console: Console) -> Response:
    query = parse_query(request.query_params)
    cache = _cache(request)
    async with session_scope(request.app.state.session_factory) as session:
        result: SearchResult = await search(session, query, cache=cache)
        items = [] if is_htmx(request) else (await featured.featured(session, cache=cache))
    counters = getattr(request.app.state, "discovery_counters", None)
    if counters is not None and query.q is not None and query.page == 1:
        counters.terms.add(analytics_term(query.q))
    pages = max(1, -(-result.total // PAGE_SIZE))
    context: dict[str, Any] = dict(
        title="Marketplace", query=query, result=result, pages=pages,
        previous=_page_link(query, query.page - 1) if query.page > 1 else None,
        next=_page_link(query, query.page + 1) if query.page < pages else None,
        featured=items[:FEATURED_SHOWN], categories=CATEGORIES, types=PLUGIN_TYPES,
        permissions=PERMISSION_ORDER, sorts=SORTS, plain=PLAIN_PERMISSIONS,
        searching=bool(query.q or query.category or query.type or query.permissions
                       or query.verified is not None or query.page > 1))
    template = "marketplace/_results.html" if is_htmx(request) else "marketplace/home.html"
    return render(request, template, **context)


def plugin_id_of(request: Request) -> str:
    value = str(request.path_params.get("plugin_id", ""))
    if not _PLUGIN_ID.match(value):
        raise NotFound(detail="no listing has this id")
    return value


@page
async def listing_page(request: Request, console: Console) -> Response:
    plugin_id = plugin_id_of(request)
    principal = console.principal
    async with session_scope(request.app.state.session_factory) as session:
        detail = await listing_detail(session, plugin_id)
        shown, review_total = await reviews.page(session, plugin_id, 0, REVIEWS_SHOWN)
        # The form is offered where reviews.submit would accept it; it decides again on POST.
        may_review = principal is not None and (await session.execute(
            select(Plugin.id).where(Plugin.organization_id == principal.org_id,
                                    Plugin.plugin_id == plugin_id))).first() is not None
    latest = next((v for v in detail.versions if not v.yanked), None)
    return render(request, "marketplace/listing.html", title=detail.listing.name,
                  detail=detail, latest=latest, plain=PLAIN_PERMISSIONS,
                  reviews=shown, review_total=review_total, may_review=may_review,
                  manage=principal is not None and can_manage(principal))


router.add_api_route("/", home, methods=["GET"], **route_kwargs())
router.add_api_route("/marketplace/{plugin_id}", listing_page, methods=["GET"], **route_kwargs())
