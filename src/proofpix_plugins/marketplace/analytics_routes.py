"""Analytics routes: the developer dashboard (X-API-Key) and the platform admin's view."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import ConfigDict

from proofpix_plugins.accounts.auth import Principal, require_platform_admin
from proofpix_plugins.db import SessionDep
from proofpix_plugins.developers.auth import DeveloperPrincipal, require_api_key
from proofpix_plugins.kit.rate_limit import rate_limit_reads
from proofpix_plugins.kit.schemas import CamelResponse
from proofpix_plugins.marketplace import analytics
from proofpix_plugins.models.marketplace import ApiKeyScope

developer_router = APIRouter(prefix="/api/developers", tags=["developers"],
                             dependencies=[Depends(rate_limit_reads("default"))])
admin_router = APIRouter(prefix="/api/admin", tags=["admin"],
                         dependencies=[Depends(rate_limit_reads("default"))])

Days = Annotated[int, Query(ge=1, le=365, description="The window: this many days back, "
                                                      "today included (at most 365).")]
_DAY = "2026-12-01"


class DashboardOut(CamelResponse):
    """Per plugin and version: downloads, installs, ratings, usage; no organization named."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "days": 30, "since": "2026-11-02", "minOrganizations": 3,
        "plugins": [{"pluginId": "acme.counter", "status": "active", "downloadsTotal": 40,
                     "installsTotal": 12, "activeInstalls": 9, "ratingAvg": 4.5,
                     "ratingCount": 2,
                     "versions": [{"version": "1.0.0", "activeInstalls": 9, "daily": [
                         {"day": _DAY, "downloads": 4, "installs": 2}]}],
                     "usage": [{"day": _DAY, "suppressed": False, "calls": 1200, "errors": 3,
                                "errorRate": 0.0025, "p95LatencyMs": 1.8},
                               {"day": "2026-12-02", "suppressed": True, "calls": None,
                                "errors": None, "errorRate": None, "p95LatencyMs": None}]}],
    }]})

    days: int
    """The window's length in days."""
    since: date
    """The window's first day (UTC)."""
    min_organizations: int
    """A day's usage is shown only when at least this many organizations contributed;
    otherwise it says `suppressed: true` and carries no figures."""
    plugins: list[dict[str, Any]]
    """Your listings: totals, `activeInstalls` (installations now), ratings, `versions` (each
    with its active installs and daily downloads/installs) and daily `usage` (hook calls,
    errors, error rate, p95 latency in ms, summed over every installing organization)."""


class AnalyticsOut(CamelResponse):
    """Marketplace-wide analytics for platform administrators."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "days": 30, "since": "2026-11-02",
        "daily": [{"day": _DAY, "downloads": 40, "installs": 12}],
        "searchTerms": [{"term": "gps", "count": 31}],
        "categories": [{"category": "privacy", "listings": 4, "installs": 20}],
        "submissions": {"byStatus": {"published": 5, "rejected": 1}, "decided": 6,
                        "decisionSecondsP50": 5400.0, "decisionSecondsP95": 86400.0},
    }]})

    days: int
    """The window's length in days."""
    since: date
    """The window's first day (UTC)."""
    daily: list[dict[str, Any]]
    """Downloads and installs per day, every listing together."""
    search_terms: list[dict[str, Any]]
    """The 20 most searched terms in the window (never who searched)."""
    categories: list[dict[str, Any]]
    """Per category: listings and their installs."""
    submissions: dict[str, Any]
    """Submissions created in the window by status, and the time from submission to decision
    (p50/p95 seconds) of those decided."""


@developer_router.get("/dashboard", response_model=DashboardOut)
async def developer_dashboard(
    session: SessionDep, days: Days = 30,
    developer: DeveloperPrincipal = Depends(require_api_key(ApiKeyScope.read)),  # noqa: B008
) -> dict[str, Any]:
    """Read your plugins' analytics

    For each of your listings: daily downloads and installs per version, installations now,
    ratings, and daily hook calls, error rate and p95 latency across every organization that
    runs it. No organization is ever named, and a day's usage with fewer than three
    contributing organizations is suppressed (`suppressed: true`).

    Who: a developer, with an `X-API-Key` carrying the `read` scope.
    """
    return await analytics.dashboard(session, developer.developer_id, days)


@admin_router.get("/analytics", response_model=AnalyticsOut)
async def marketplace_analytics(
    session: SessionDep, _: Annotated[Principal, Depends(require_platform_admin)], days: Days = 30,
) -> dict[str, Any]:
    """Read marketplace analytics

    Downloads and installs over time, the most searched terms, categories, submission outcomes
    and review times (p50/p95 from submission to decision).

    Who: a platform administrator.
    """
    return await analytics.platform_analytics(session, days)
