"""Platform administration, marketplace analytics: ``/console/admin/analytics?days=N`` renders
``analytics.platform_analytics`` (the service ``GET /api/admin/analytics`` calls): downloads and
installs per day and installs per category as uPlot charts, and every figure in tables as well
(the charts' text alternative): the most searched terms, categories, submission outcomes and
review times. No inline script: the chart columns travel in a ``data-series`` attribute and
``console.js`` draws them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import analytics
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.admin import platform_admin
from proofpix_plugins.web.pages.common import page, route_kwargs
from proofpix_plugins.web.templating import render

router = APIRouter()
WINDOWS = (7, 30, 90, 365)
DEFAULT_DAYS = 30


def _days(request: Request) -> int:
    raw = request.query_params.get("days") or ""
    return int(raw) if raw.isdigit() and int(raw) in WINDOWS else DEFAULT_DAYS


def chart_series(data: dict[str, Any]) -> dict[str, list[Any]]:
    """Columns for uPlot: every day of the window (a day without counts is zero), in unix
    seconds at midnight UTC, with its downloads and installs; and installs per category."""
    by_day = {d["day"]: d for d in data["daily"]}
    series: dict[str, list[Any]] = {"t": [], "downloads": [], "installs": [],
                                    "categories": [], "categoryInstalls": []}
    for n in range(int(data["days"])):
        day = data["since"] + timedelta(days=n)
        counts = by_day.get(day, {})
        series["t"].append(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))
        series["downloads"].append(int(counts.get("downloads", 0)))
        series["installs"].append(int(counts.get("installs", 0)))
    for c in data["categories"]:
        series["categories"].append(str(c["category"]))
        series["categoryInstalls"].append(int(c["installs"]))
    return series


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@page
async def analytics_page(request: Request, console: Console) -> Response:
    await platform_admin(console)
    days = _days(request)
    async with session_scope(request.app.state.session_factory) as session:
        data = await analytics.platform_analytics(session, days)
    series = chart_series(data)
    subs = data["submissions"]
    return render(request, "admin/analytics.html", title="Marketplace analytics", data=data,
                  series=series, windows=WINDOWS, days=days,
                  downloads=sum(series["downloads"]), installs=sum(series["installs"]),
                  p50=_duration(subs["decisionSecondsP50"]),
                  p95=_duration(subs["decisionSecondsP95"]))


router.add_api_route("/console/admin/analytics", analytics_page, methods=["GET"],
                     **route_kwargs())
