"""Platform administration, featured curation: ``/console/admin/featured`` shows the curated head
of the featured list and the top of the rest (``featured.featured``), and adds, removes and
reorders curated plugins. Every change computes the new order and hands it to
``featured.set_curated`` — the service ``PUT /api/admin/featured`` calls, after the same
``CuratedIn`` model — so its rules (active listings only, no duplicates, at most 100) exist once;
its errors appear next to the form's field."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.marketplace import featured
from proofpix_plugins.marketplace.discovery_schemas import CuratedIn
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.admin import platform_admin
from proofpix_plugins.web.pages.common import field, form_data, page, redirect, route_kwargs
from proofpix_plugins.web.templating import render

router = APIRouter()
TOP_SHOWN = 20
_ops = rate_limit("plugin_ops")
ACTIONS = ("add", "remove", "up", "down")
DONE = {"add": "Added to the featured list.", "remove": "Removed from the featured list.",
        "up": "Moved up.", "down": "Moved down."}


async def _render(request: Request, *, status: int = 200,
                  errors: dict[str, list[str]] | None = None, value: str = "") -> Response:
    async with session_scope(request.app.state.session_factory) as session:
        curated = await featured.curated_ids(session)
        # Fresh, not the discovery cache: the admin sees the result of the change just made.
        items = await featured.featured(session)
    shown = {i.listing.plugin_id: i for i in items if i.source == "curated"}
    rows = [{"plugin_id": pid, "item": shown.get(pid)} for pid in curated]
    top = [i for i in items if i.source == "top"][:TOP_SHOWN]
    done = DONE.get(request.query_params.get("done", ""))
    return render(request, "admin/featured.html", status_code=status, title="Featured plugins",
                  curated=rows, top=top, errors=errors or {}, value=value, done=done)


@page
async def featured_page(request: Request, console: Console) -> Response:
    await platform_admin(console)
    return await _render(request)


def _reordered(current: list[str], action: str, pid: str) -> list[str]:
    if action == "add":
        return [*current, pid]
    if action == "remove":
        return [p for p in current if p != pid]
    i = current.index(pid)
    j = i - 1 if action == "up" else i + 1
    new = list(current)
    if 0 <= j < len(new):
        new[i], new[j] = new[j], new[i]
    return new


def _messages(exc: ValidationFailed, pids: list[str]) -> list[str]:
    out = []
    for e in exc.errors:
        name = e.value if isinstance(e.value, str) else ""
        if not name and "[" in e.field:
            try:
                name = pids[int(e.field[e.field.index("[") + 1: -1])]
            except (ValueError, IndexError):
                name = ""
        out.append(f"{name}: {e.message}" if name else e.message)
    return out or [exc.detail or exc.title]


@page
async def change(request: Request, console: Console) -> Response:
    await platform_admin(console)
    await _ops(request)
    form = await form_data(request)
    action = field(form, "action")
    pid = field(form, "plugin_id").strip()
    if action not in ACTIONS:
        return await _render(request, status=422, errors={"action": [
            "Choose add, remove, up or down."]})
    if not pid:
        return await _render(request, status=422, errors={"plugin_id": [
            "Enter the plugin id of a marketplace listing (for example acme.exif-cleaner)."]})
    where = "plugin_id" if action == "add" else "action"
    new: list[str] = []
    try:
        async with session_scope(request.app.state.session_factory) as session:
            current = await featured.curated_ids(session)
            if action != "add" and pid not in current:
                raise ValidationFailed("not curated", errors=(
                    FieldError("plugin_id", f"{pid} is not in the curated list."),))
            new = _reordered(current, action, pid)
            try:
                body = CuratedIn(plugin_ids=new)
            except ValidationError as exc:
                raise ValidationFailed("invalid list", errors=tuple(
                    FieldError("plugin_id", str(e["msg"])) for e in exc.errors()[:5])) from None
            await featured.set_curated(session, body.plugin_ids)
    except ValidationFailed as exc:
        return await _render(request, status=422, value=pid if action == "add" else "",
                             errors={where: _messages(exc, new)})
    return redirect(request, console, f"/console/admin/featured?done={action}")


router.add_api_route("/console/admin/featured", featured_page, methods=["GET"],
                     **route_kwargs())
router.add_api_route("/console/admin/featured", change, methods=["POST"], **route_kwargs())
