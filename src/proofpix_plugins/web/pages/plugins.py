"""The organization console: installed plugins, a plugin's page (config form, metrics, events),
load and unload. Every read and write is a ``PluginService`` call, as the API's routes make."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.accounts.auth import Principal, require_role
from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import NotFound, ValidationFailed
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.packages.manifest import PLUGIN_ID_PATTERN
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.plugins.schemas import MetricsOut, PluginDetail
from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.web.auth import Console, can_manage, require_enterprise, require_user
from proofpix_plugins.web.config_form import attach_errors, build_fields, read_form
from proofpix_plugins.web.pages.common import form_data, is_htmx, page, redirect, route_kwargs
from proofpix_plugins.web.templating import render

router = APIRouter()
_PLUGIN_ID = re.compile(f"^{PLUGIN_ID_PATTERN}$")
_admin = require_role("owner", "admin")
_plugin_ops = rate_limit("plugin_ops")
PAGE_SIZE = 50
METRICS_MINUTES = 60
EVENTS_SHOWN = 20
STATUSES = ("installed", "loaded", "unloaded", "disabled", "error", "needs_configuration")


def service(request: Request) -> PluginService:
    svc: PluginService = request.app.state.plugin_service
    return svc


def plugin_id(request: Request) -> str:
    value = str(request.path_params.get("plugin_id", ""))
    if not _PLUGIN_ID.match(value):
        raise NotFound(detail="no plugin has this id")
    return value


async def member(console: Console) -> Principal:
    return await require_enterprise(require_user(console))


async def admin(request: Request, console: Console) -> Principal:
    principal = await _admin(await member(console))
    await _plugin_ops(request)
    return principal


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


@page
async def list_page(request: Request, console: Console) -> Response:
    principal = await member(console)
    status = request.query_params.get("status")
    status = status if status in STATUSES else None
    q = request.query_params.get("q", "")[:100] or None
    number = _page_number(request)
    items, total = await service(request).list_plugins(
        principal.org_id, status=status, type_=None, category=None, q=q, page=number,
        limit=PAGE_SIZE)
    template = "plugins/_table.html" if is_htmx(request) else "plugins/list.html"
    return render(request, template, title="Installed plugins", plugins=items, total=total,
                  page=number, pages=max(1, -(-total // PAGE_SIZE)), status=status or "",
                  q=q or "", statuses=STATUSES, manage=can_manage(principal))


def _chart_series(metrics: MetricsOut) -> dict[str, list[Any]]:
    """Columns for uPlot: unix seconds, calls, errors and p95 latency per one-minute bucket."""
    series: dict[str, list[Any]] = {"t": [], "calls": [], "errors": [], "p95": []}
    for bucket in metrics.buckets:
        if bucket.bucket_start is None:
            continue
        series["t"].append(int(bucket.bucket_start.timestamp()))
        series["calls"].append(bucket.calls)
        series["errors"].append(bucket.errors)
        series["p95"].append(bucket.latency_ms.p95)
    return series


async def _detail_context(request: Request, principal: Principal, pid: str) -> dict[str, Any]:
    svc = service(request)
    detail = await svc.get_plugin(principal.org_id, pid)
    manage = can_manage(principal)
    # Independent reads, each in its own short transaction: run them side by side.
    metrics_raw, admin_reads = await asyncio.gather(
        svc.get_plugin_metrics(principal.org_id, pid, minutes=METRICS_MINUTES),
        asyncio.gather(svc.get_plugin_config(principal.org_id, pid),
                       _schema(request, principal, pid),
                       svc.list_plugin_events(principal.org_id, pid, page=1,
                                              limit=EVENTS_SHOWN)) if manage else _nothing(),
    )
    metrics = MetricsOut.model_validate(metrics_raw)
    context: dict[str, Any] = {
        "plugin": detail, "metrics": metrics, "series": _chart_series(metrics),
        "manage": manage, "fields": [], "form_errors": [], "events": [], "saved": False,
        "config_version": None, "title": detail.name,
    }
    if admin_reads is not None:
        config, schema, (events, _) = admin_reads
        context["fields"] = build_fields(schema, config.values)
        context["config_version"] = config.version
        context["events"] = events
    return context


async def _nothing() -> None:
    return None


async def _schema(request: Request, principal: Principal, pid: str) -> dict[str, Any] | None:
    """The installed version's ``config_schema`` (a read of the row the service validates
    against; the detail API leaves it out)."""
    async with session_scope(request.app.state.session_factory) as db:
        row = await PluginRepository(db).get(principal.org_id, pid, children=False)
    if row is None:
        raise NotFound(detail=f"plugin {pid} is not installed")
    schema = row.manifest.get("config_schema") if isinstance(row.manifest, dict) else None
    return schema if isinstance(schema, dict) else None


@page
async def detail_page(request: Request, console: Console) -> Response:
    principal = await member(console)
    context = await _detail_context(request, principal, plugin_id(request))
    context["saved"] = request.query_params.get("saved") == "1"
    return render(request, "plugins/detail.html", **context)


@page
async def change_state(request: Request, console: Console) -> Response:
    principal = await admin(request, console)
    pid = plugin_id(request)
    svc = service(request)
    if request.url.path.endswith("/load"):
        detail = await svc.load_plugin(principal.org_id, pid, actor=principal.user_id)
    else:
        detail = await svc.unload_plugin(principal.org_id, pid, actor=principal.user_id)
    if is_htmx(request):
        return render(request, "plugins/_row.html", p=detail, manage=True)
    return redirect(request, console, f"/console/plugins/{pid}")


@page
async def save_config(request: Request, console: Console) -> Response:
    principal = await admin(request, console)
    pid = plugin_id(request)
    svc = service(request)
    schema = await _schema(request, principal, pid)
    current = await svc.get_plugin_config(principal.org_id, pid)
    fields = build_fields(schema, current.values)
    submitted = read_form(schema, fields, {k: v for k, v in (await form_data(request)).items()
                                           if isinstance(v, str)})
    general: list[str] = []
    if not submitted.errors:
        try:
            await svc.update_plugin_config(principal.org_id, pid, submitted.values,
                                           actor=principal.user_id)
        except ValidationFailed as exc:
            general = attach_errors(fields, exc.errors)
            general = general or ([] if exc.errors else [exc.detail])
        else:
            return redirect(request, console, f"/console/plugins/{pid}?saved=1#configuration")
    else:
        attach_errors(fields, [], submitted.errors)
    detail: PluginDetail = await svc.get_plugin(principal.org_id, pid)
    return render(request, "plugins/_config_form.html" if is_htmx(request)
                  else "plugins/config_page.html", status_code=422, plugin=detail,
                  fields=fields, form_errors=general, saved=False, title=detail.name,
                  config_version=current.version, manage=True)


@page
async def events_fragment(request: Request, console: Console) -> Response:
    principal = await _admin(await member(console))
    pid = plugin_id(request)
    events, _ = await service(request).list_plugin_events(principal.org_id, pid, page=1,
                                                          limit=EVENTS_SHOWN)
    return render(request, "plugins/_events.html", events=events, plugin_id=pid)


_ID = "/console/plugins/{plugin_id}"
router.add_api_route("/console/plugins", list_page, methods=["GET"], **route_kwargs())
router.add_api_route(_ID, detail_page, methods=["GET"], **route_kwargs())
router.add_api_route(_ID + "/events", events_fragment, methods=["GET"], **route_kwargs())
router.add_api_route(_ID + "/config", save_config, methods=["POST"], **route_kwargs())
router.add_api_route(_ID + "/load", change_state, methods=["POST"], **route_kwargs())
router.add_api_route(_ID + "/unload", change_state, methods=["POST"], **route_kwargs())
