"""Platform administration, takedowns: ``/console/admin/listings`` finds a marketplace listing,
``/console/admin/listings/{pluginId}`` shows its status and versions and yanks or suspends with
a mandatory reason (and lifts either), through ``marketplace.takedown`` — the service the admin
API's ``takedown_routes`` call, with their reason models, so no rule exists twice. A missing or
too long reason is shown next to its field (422), never a 500."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Conflict, NotFound
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.marketplace import takedown
from proofpix_plugins.marketplace.artifact_source import listing_by_plugin_id
from proofpix_plugins.marketplace.takedown_routes import OptionalReasonIn, ReasonIn
from proofpix_plugins.marketplace.versions import newest, versions_of
from proofpix_plugins.models.marketplace import MarketplaceListing
from proofpix_plugins.packages.manifest import PLUGIN_ID_PATTERN
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.admin import platform_admin
from proofpix_plugins.web.pages.common import field, form_data, page, redirect, route_kwargs
from proofpix_plugins.web.templating import render

router = APIRouter()
SHOWN = 50
_ops = rate_limit("plugin_ops")
_PLUGIN_ID = re.compile(f"^{PLUGIN_ID_PATTERN}$")
#: The form's action names: the service call each makes and the reason model it validates with.
ACTIONS: dict[str, tuple[str, bool, type[ReasonIn] | type[OptionalReasonIn]]] = {
    "suspend": ("suspended", True, ReasonIn),
    "unsuspend": ("suspended", False, OptionalReasonIn),
    "yank": ("yanked", True, ReasonIn),
    "unyank": ("yanked", False, OptionalReasonIn),
}
DONE = {"suspend": "Suspended.", "unsuspend": "Suspension lifted.", "yank": "Version yanked.",
        "unyank": "Yank lifted."}


def _plugin_id(request: Request) -> str:
    pid = str(request.path_params.get("plugin_id", ""))
    if not _PLUGIN_ID.match(pid):
        raise NotFound("plugin not found")
    return pid


@page
async def listings(request: Request, console: Console) -> Response:
    await platform_admin(console)
    q = (request.query_params.get("q") or "").strip()[:100]
    stmt = select(MarketplaceListing).order_by(MarketplaceListing.plugin_id).limit(SHOWN)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(MarketplaceListing.plugin_id.ilike(like, escape="\\"),
                              MarketplaceListing.name.ilike(like, escape="\\")))
    async with session_scope(request.app.state.session_factory) as session:
        rows = list((await session.execute(stmt)).scalars())
    return render(request, "admin/listings.html", title="Listings and takedowns",
                  listings=rows, q=q, shown=SHOWN)


async def _render_listing(request: Request, pid: str, *, status: int = 200,
                          errors: dict[str, list[str]] | None = None,
                          values: dict[str, str] | None = None) -> Response:
    async with session_scope(request.app.state.session_factory) as session:
        listing = await listing_by_plugin_id(session, pid)
        if listing is None:
            raise NotFound(f"plugin {pid} is not in the marketplace")
        rows = list(await versions_of(session, listing.id))
    ordered: list[Any] = []
    while rows:  # newest first
        top = newest(rows)
        assert top is not None
        ordered.append(top)
        rows.remove(top)
    done = request.query_params.get("done", "")
    return render(request, "admin/listing.html", status_code=status,
                  title=f"Takedowns: {pid}", listing=listing, versions=ordered,
                  errors=errors or {}, values=values or {}, done=DONE.get(done))


@page
async def listing_admin(request: Request, console: Console) -> Response:
    await platform_admin(console)
    return await _render_listing(request, _plugin_id(request))


def _reason_errors(exc: ValidationError, action: str) -> dict[str, list[str]]:
    messages = []
    for e in exc.errors()[:5]:
        if e["type"] in ("missing", "string_too_short"):
            messages.append("Give a reason: it is shown to every affected organization and "
                            "written to the public log.")
        else:
            messages.append(str(e["msg"]))
    return {f"{action}-reason": messages}


@page
async def takedown_action(request: Request, console: Console) -> Response:
    await platform_admin(console)
    await _ops(request)
    pid = _plugin_id(request)
    form = await form_data(request)
    action = field(form, "action")
    if action not in ACTIONS:
        return await _render_listing(request, pid, status=422, errors={
            "action": ["Choose suspend, unsuspend, yank or unyank."]})
    what, on, model = ACTIONS[action]
    raw = field(form, "reason").strip()
    version = field(form, "version")
    values = {f"{action}-reason": raw, f"{action}-version": version}
    try:
        # An empty field is an absent reason: required for a takedown, optional to lift one.
        reason = model.model_validate({"reason": raw} if raw else {}).reason
    except ValidationError as exc:
        return await _render_listing(request, pid, status=422,
                                     errors=_reason_errors(exc, action), values=values)
    sf = request.app.state.session_factory
    try:
        if what == "yanked":
            if not version:
                return await _render_listing(request, pid, status=422, values=values, errors={
                    f"{action}-version": ["Choose a version."]})
            await takedown.set_yanked(sf, pid, version, reason, yanked=on)
        else:
            await takedown.set_suspended(sf, request.app.state.event_hub, pid, reason,
                                         suspended=on)
    except (Conflict, NotFound) as exc:
        # Already in that state, or no such version: said next to the form, the page kept.
        where = f"{action}-version" if what == "yanked" else "action"
        return await _render_listing(request, pid, status=exc.status, values=values,
                                     errors={where: [exc.detail or exc.title]})
    return redirect(request, console, f"/console/admin/listings/{pid}?done={action}")


router.add_api_route("/console/admin/listings", listings, methods=["GET"], **route_kwargs())
router.add_api_route("/console/admin/listings/{plugin_id}", listing_admin, methods=["GET"],
                     **route_kwargs())
router.add_api_route("/console/admin/listings/{plugin_id}", takedown_action, methods=["POST"],
                     **route_kwargs())
