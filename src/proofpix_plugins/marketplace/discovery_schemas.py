"""Wire shapes of marketplace discovery (camelCase): search, featured, a listing, curation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import Path
from pydantic import ConfigDict, Field

from proofpix_plugins.kit.pagination import MAX_LIMIT
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.marketplace.catalog import ListingSummary
from proofpix_plugins.marketplace.featured import MAX_FEATURED, FeaturedItem
from proofpix_plugins.marketplace.listing_detail import ListingDetail
from proofpix_plugins.marketplace.search import SearchResult
from proofpix_plugins.packages.manifest import PLUGIN_ID_PATTERN

_T0: Final = "2026-12-01T09:30:00Z"

#: A plugin id in a URL path; routing (kit.routes.PatternRoute) uses the pattern, so
#: ``search``, ``featured``, ``public-key`` and ``log`` never reach the listing routes.
MarketplacePluginId = Annotated[str, Path(
    pattern=f"^{PLUGIN_ID_PATTERN}$",
    description="The plugin id, `publisher.name`.", examples=["acme.exif-cleaner"],
)]

_PUBLISHER_EXAMPLE: Final = {"namespace": "acme", "displayName": "Acme Imaging", "verified": True}
_SUMMARY_EXAMPLE: Final[dict[str, Any]] = {
    "pluginId": "acme.exif-cleaner", "name": "EXIF Cleaner",
    "description": "Strips GPS and camera serials from uploads.", "type": "processor",
    "category": "privacy", "tags": ["exif", "gps"], "permissions": ["files", "metadata"],
    "verified": True, "latestVersion": "1.4.0", "downloads": 1520, "installs": 310,
    "ratingAvg": 4.6, "ratingCount": 41, "updatedAt": _T0, "publisher": _PUBLISHER_EXAMPLE,
}


class PublisherOut(CamelResponse):
    """Who publishes a plugin."""

    namespace: str
    """The publisher's namespace: the part of plugin ids before the dot."""
    display_name: str
    """The publisher's display name."""
    verified: bool
    """Whether the platform verified the publisher's identity."""


class ListingSummaryOut(CamelResponse):
    """A marketplace listing as lists show it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY_EXAMPLE]})

    plugin_id: str
    """The plugin id, `publisher.name`."""
    name: str
    """The plugin's display name."""
    description: str
    """What the plugin does."""
    type: str
    """`processor`, `connector`, `analyzer` or `utility`."""
    category: str
    """The plugin's category (`privacy`, `metadata`, ...)."""
    tags: list[str]
    """Free keywords the publisher chose."""
    permissions: list[str]
    """Permissions the latest version requests."""
    verified: bool
    """Whether the publisher is verified."""
    latest_version: str | None
    """The newest published version."""
    downloads: int
    """Downloads of every version, all time (counted in batches, a few seconds behind)."""
    installs: int
    """Installations from the marketplace, all time."""
    rating_avg: float
    """Average review rating, 0 when unrated."""
    rating_count: int
    """Number of reviews."""
    updated_at: datetime
    """When the listing, its versions or its reviews last changed."""
    publisher: PublisherOut
    """The publisher."""

    @classmethod
    def of(cls, s: ListingSummary) -> ListingSummaryOut:
        return cls(
            plugin_id=s.plugin_id, name=s.name, description=s.description, type=s.type,
            category=s.category, tags=s.tags, permissions=s.permissions, verified=s.verified,
            latest_version=s.latest_version, downloads=s.downloads_total,
            installs=s.installs_total, rating_avg=s.rating_avg, rating_count=s.rating_count,
            updated_at=s.updated_at, publisher=PublisherOut(
                namespace=s.publisher.namespace, display_name=s.publisher.display_name,
                verified=s.publisher.verified),
        )


class FacetsOut(CamelResponse):
    """Counts per value under the query and every other filter (a facet ignores its own)."""

    category: dict[str, int]
    """Listings per category."""
    type: dict[str, int]
    """Listings per plugin type."""
    permission: dict[str, int]
    """Listings requesting each permission."""


class SearchOut(CamelResponse):
    """One page of search results, the total, and facet counts."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_SUMMARY_EXAMPLE], "total": 1, "page": 1, "limit": 20,
        "facets": {"category": {"privacy": 1}, "type": {"processor": 1},
                   "permission": {"files": 1, "metadata": 1}},
    }]})

    items: list[ListingSummaryOut]
    """This page's listings, in the requested order."""
    total: int = Field(ge=0)
    """How many listings match (every page)."""
    page: int = Field(ge=1)
    """This page's number, from 1."""
    limit: int = Field(ge=1, le=MAX_LIMIT)
    """The page size asked for."""
    facets: FacetsOut
    """Counts per category, type and permission."""

    @classmethod
    def of(cls, r: SearchResult) -> SearchOut:
        return cls(items=[ListingSummaryOut.of(i) for i in r.items], total=r.total, page=r.page,
                   limit=r.limit, facets=FacetsOut(**r.facets))


class FeaturedItemOut(ListingSummaryOut):
    """A featured listing: curated by the platform, or a top plugin by score."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_SUMMARY_EXAMPLE, "source": "top", "score": 8.91, "recentDownloads": 240}]})

    source: Literal["curated", "top"]
    """`curated` (chosen by a platform admin, in their order) or `top` (by score)."""
    score: float | None
    """For `top`: Bayesian rating times ln(1 + downloads in 30 days); null for `curated`."""
    recent_downloads: int
    """Downloads over the last 30 days."""

    @classmethod
    def of_item(cls, item: FeaturedItem) -> FeaturedItemOut:
        base = ListingSummaryOut.of(item.listing).model_dump()
        return cls(**base, source=item.source, score=item.score,
                   recent_downloads=item.recent_downloads)


class FeaturedOut(CamelResponse):
    """The featured list: curated plugins first, then the top plugins by score."""

    items: list[FeaturedItemOut]
    """This page of the featured list."""
    total: int = Field(ge=0, le=MAX_FEATURED)
    """Length of the whole featured list (at most 100)."""
    page: int = Field(ge=1)
    """This page's number, from 1."""
    limit: int = Field(ge=1, le=MAX_LIMIT)
    """The page size asked for."""


class VersionOut(CamelResponse):
    """One published version of a listing."""

    version: str
    """The version (semver)."""
    published_at: datetime
    """When it was published."""
    permissions: list[str]
    """Permissions it requests."""
    network_hosts: list[str]
    """Hosts it may reach through the `http` permission."""
    secret_keys: list[str]
    """Configuration keys it treats as secrets."""
    changelog: str
    """The release notes."""
    platform_range: str
    """The platform versions it supports (PEP 440 specifier; empty: any)."""
    compatible: bool
    """Whether it supports this platform's version."""
    scan_summary: dict[str, Any]
    """The security scan's summary at publication."""
    size_bytes: int
    """Size of the `.ppx`."""
    sha256: str
    """sha256 of the `.ppx` (also `X-Checksum-SHA256` on download)."""
    yanked: bool
    """Yanked: hidden from search and "latest", still downloadable by exact version."""
    yanked_reason: str | None
    """Why it was yanked."""


class RatingsOut(CamelResponse):
    """The listing's reviews in numbers."""

    average: float
    """Average rating, 0 when unrated."""
    count: int
    """Number of reviews."""
    histogram: dict[str, int]
    """Reviews per star, `"1"` to `"5"`."""


class ListingOut(ListingSummaryOut):
    """A listing's public page: publisher, versions (newest first), ratings and totals."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_SUMMARY_EXAMPLE, "status": "active", "statusReason": None, "createdAt": _T0,
        "ratings": {"average": 4.6, "count": 41,
                    "histogram": {"1": 1, "2": 0, "3": 2, "4": 10, "5": 28}},
        "versions": [{
            "version": "1.4.0", "publishedAt": _T0, "permissions": ["files", "metadata"],
            "networkHosts": [], "secretKeys": [], "changelog": "Faster GPS stripping.",
            "platformRange": ">=0.1", "compatible": True, "scanSummary": {"findings": 0},
            "sizeBytes": 18234, "sha256": "9f" * 32, "yanked": False, "yankedReason": None,
        }],
    }]})

    status: Literal["active", "suspended"]
    """`suspended`: the marketplace's kill switch; nothing can be downloaded or installed."""
    status_reason: str | None
    """Why the listing was suspended."""
    created_at: datetime
    """When the first version was published."""
    ratings: RatingsOut
    """Average, count and a 1-5 histogram."""
    versions: list[VersionOut]
    """Published versions, newest first (yanked ones included, with the reason)."""

    @classmethod
    def of_detail(cls, d: ListingDetail) -> ListingOut:
        base = ListingSummaryOut.of(d.listing).model_dump()
        return cls(
            **base, status=d.status, status_reason=d.status_reason, created_at=d.created_at,
            ratings=RatingsOut(average=d.listing.rating_avg, count=d.listing.rating_count,
                               histogram=d.histogram),
            versions=[VersionOut(
                version=v.version, published_at=v.published_at, permissions=v.permissions,
                network_hosts=v.network_hosts, secret_keys=v.secret_keys,
                changelog=v.changelog, platform_range=v.platform_range,
                compatible=v.compatible, scan_summary=v.scan_summary,
                size_bytes=v.size_bytes, sha256=v.artifact_sha256, yanked=v.yanked,
                yanked_reason=v.yanked_reason) for v in d.versions],
        )


class CuratedIn(CamelModel):
    """The curated head of the featured list, in order (replaces the current one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"pluginIds": ["acme.exif-cleaner", "globex.watermark"]}]})

    plugin_ids: list[Annotated[str, Field(max_length=100)]] = Field(max_length=MAX_FEATURED)
    """Plugin ids of active listings, at most 100, no duplicates; `[]` clears the list."""


class CuratedOut(CamelResponse):
    """The curated head of the featured list, in order."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"pluginIds": ["acme.exif-cleaner", "globex.watermark"]}]})

    plugin_ids: list[str]
    """Plugin ids, in the order they are featured."""
