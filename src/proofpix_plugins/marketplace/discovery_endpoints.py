"""Public marketplace discovery routes (search, featured, listing, download) and curation.

Handlers only translate HTTP: the services (``search``, ``featured``, ``listing_detail``,
``downloads``) hold the rules, so the web console calls the same functions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from proofpix_plugins.accounts.auth import require_platform_admin
from proofpix_plugins.db import SessionDep
from proofpix_plugins.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit_reads
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.marketplace import downloads, featured, http_cache
from proofpix_plugins.marketplace.discovery_cache import validity_token
from proofpix_plugins.marketplace.discovery_runtime import (
    blobs_of,
    cache_of,
    counters_of,
    pages_of,
)
from proofpix_plugins.marketplace.discovery_schemas import (
    CuratedIn,
    CuratedOut,
    FeaturedItemOut,
    FeaturedOut,
    ListingOut,
    MarketplacePluginId,
    SearchOut,
)
from proofpix_plugins.marketplace.listing_detail import listing_detail
from proofpix_plugins.marketplace.search import SearchQuery, SearchSort, search
from proofpix_plugins.marketplace.search.terms import MAX_QUERY_CHARS, analytics_term
from proofpix_plugins.packages.manifest import Category, PluginType
from proofpix_plugins.packages.permissions import Permission

# Public and anonymous, so every read spends the caller's (user's or address's) default budget.
router = APIRouter(prefix="/api/plugins/marketplace", tags=["marketplace"],
                   route_class=PatternRoute, responses=problem_responses(422),
                   dependencies=[Depends(rate_limit_reads())])
admin_router = APIRouter(prefix="/api/admin/featured", tags=["admin"],
                         dependencies=[Depends(require_platform_admin)],
                         responses=problem_responses(401, 403, 422))

_PAGE = Annotated[int, Query(ge=1, le=10_000, description="page number, from 1")]
_LIMIT = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page (at most 100)")]
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is current."}}


@router.get("/search", response_model=SearchOut, responses=_NOT_MODIFIED)
async def search_marketplace(
    request: Request,
    session: SessionDep,
    q: Annotated[str | None, Query(
        max_length=MAX_QUERY_CHARS,
        description="words to find in the name, description, tags and publisher namespace; "
        "each word must match, as a prefix when longer than one letter; punctuation and "
        "operators are ignored; at most 200 characters (422 beyond)")] = None,
    category: Annotated[Category | None, Query(description="only this category")] = None,
    type: Annotated[PluginType | None, Query(description="only this plugin type")] = None,
    permission: Annotated[list[Permission] | None, Query(
        description="only plugins whose latest version requests this permission (repeat: "
        "all of them)")] = None,
    compatible: Annotated[bool | None, Query(
        description="true: only plugins with a visible version supporting this platform; "
        "false: only those without")] = None,
    verified: Annotated[bool | None, Query(
        description="only verified (true) or unverified (false) publishers")] = None,
    sort: Annotated[SearchSort | None, Query(
        description="`relevance` (default with `q`), `downloads` (default without), "
        "`rating`, `updated` or `name`")] = None,
    page: _PAGE = 1,
    limit: _LIMIT = DEFAULT_LIMIT,
) -> Response:
    """Search the marketplace

    Full-text search over active listings with a visible (published, not yanked) version, with
    filters, sorts and facet counts (each facet counted under the query and the *other*
    filters). At equal relevance verified publishers rank first. Answers carry an `ETag`;
    send it back in `If-None-Match` for a 304.

    Who: anyone, no token.
    """
    query = SearchQuery(
        q=q, category=category, type=type, permissions=tuple(dict.fromkeys(permission or [])),
        compatible=compatible, verified=verified, sort=sort, page=page, limit=limit,
    )
    if q is not None and page == 1:
        counters_of(request).terms.add(analytics_term(q))
    token = await validity_token(session)

    async def render() -> http_cache.Rendered:
        result = await search(session, query, cache=cache_of(request), token=token)
        return http_cache.render(SearchOut.of(result))

    # The key is the query as searched: its words (so "EXIF" and "exif!" share a page), the
    # filters, the effective sort and the page.
    key = ("search", tuple(query.words), query.q is not None, category, type,
           query.permissions, compatible, verified, query.effective_sort, page, limit)
    return http_cache.respond(request, await pages_of(request).get(key, token, render))


@router.get("/featured", response_model=FeaturedOut, responses=_NOT_MODIFIED)
async def featured_plugins(
    request: Request, session: SessionDep, page: _PAGE = 1, limit: _LIMIT = DEFAULT_LIMIT,
) -> Response:
    """List featured plugins

    The curated plugins (chosen by a platform admin, in their order), then the top plugins
    by score: a Bayesian average rating (prior 3.0 weighted as 5 reviews) times ln(1 + downloads
    in the last 30 days). Suspended listings never appear. At most 100 in all; paginated.

    Who: anyone, no token.
    """
    token = await validity_token(session)

    async def render() -> http_cache.Rendered:
        items = await featured.featured(session, cache=cache_of(request), token=token)
        start = (page - 1) * limit
        return http_cache.render(FeaturedOut(
            items=[FeaturedItemOut.of_item(i) for i in items[start:start + limit]],
            total=len(items), page=page, limit=limit))

    return http_cache.respond(
        request, await pages_of(request).get(("featured", page, limit), token, render))


@router.get("/{plugin_id}", response_model=ListingOut,
            responses={**_NOT_MODIFIED, **problem_responses(404)})
async def get_listing(plugin_id: MarketplacePluginId, request: Request,
                      session: SessionDep) -> Response:
    """Read a marketplace listing

    The listing with its publisher, published versions newest first (permissions, network
    hosts, secret keys, changelog, compatibility, scan summary; yanked ones with the reason;
    versions under review are hidden), the ratings summary with a 1-5 histogram, and the
    download and install totals. A suspended listing answers 200 with `status: suspended` and
    the reason, so users learn why it was pulled.

    Who: anyone, no token. 404 when no listing has this id.
    """
    detail = await listing_detail(session, plugin_id)
    return http_cache.json_response(request, ListingOut.of_detail(detail))


@router.get(
    "/{plugin_id}/download",
    response_class=Response,
    responses={
        200: {"description": "The `.ppx` package.",
              "content": {"application/octet-stream": {"schema": {
                  "type": "string", "format": "binary"}}}},
        **_NOT_MODIFIED, **problem_responses(404, 410, 503),
    },
)
async def download_plugin(
    plugin_id: MarketplacePluginId, request: Request, session: SessionDep,
    version: Annotated[str | None, Query(
        min_length=1, max_length=64,
        description="exact version (a yanked one too); default: the newest visible")] = None,
) -> Response:
    """Download a plugin package

    The `.ppx` bytes, after checking they still hash to the published digest. Headers:
    `X-Checksum-SHA256`, `X-Signature` (base64 ed25519 by the marketplace key over the
    digest; verify with `GET /api/plugins/marketplace/public-key`), `X-Signature-Key-Id`,
    `ETag` (the digest) and `Content-Disposition`. Yanked versions only by exact `version`.

    Who: anyone, no token. 404 for an unknown listing or version, 410 (with the reason) for a
    suspended listing, 503 when the stored artifact is missing or fails its integrity check.
    """
    artifact = await downloads.resolve(session, plugin_id, version)
    etag = f'"{artifact.sha256}"'
    headers = {
        "ETag": etag, "Cache-Control": http_cache.DOWNLOAD_CACHE_CONTROL,
        "X-Checksum-SHA256": artifact.sha256, "X-Signature": artifact.signature,
        "X-Signature-Key-Id": artifact.signing_key_id,
    }
    if http_cache.matches(request, etag):
        return Response(status_code=304, headers=headers)
    data = await downloads.read_verified(await blobs_of(request), artifact)
    counters_of(request).downloads.add(artifact.listing_id, artifact.version)
    filename = f"{artifact.plugin_id}-{artifact.version}.ppx"
    return Response(data, media_type="application/octet-stream", headers={
        **headers, "Content-Disposition": f'attachment; filename="{filename}"'})


@admin_router.get("", response_model=CuratedOut)
async def get_curated(session: SessionDep) -> CuratedOut:
    """Read the curated featured list

    The plugin ids an admin placed at the head of the featured list, in order.

    Who: a platform administrator (403 for anyone else).
    """
    return CuratedOut(plugin_ids=await featured.curated_ids(session))


@admin_router.put("", response_model=CuratedOut)
async def set_curated(body: CuratedIn, session: SessionDep) -> CuratedOut:
    """Replace the curated featured list

    The given plugin ids become the head of the featured list, in this order (`[]` clears
    it); every process serves the new list at its next request.

    Who: a platform administrator (403 for anyone else). 422 naming `pluginIds[i]` for an
    unknown, suspended or repeated id.
    """
    return CuratedOut(plugin_ids=await featured.set_curated(session, body.plugin_ids))
