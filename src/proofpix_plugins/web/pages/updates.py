"""``/console/updates``: the organization's installed plugins with a newer compatible
marketplace version (``updates.updates_for``, what ``GET /api/plugins/updates`` lists), each with
its permission diff; "Review and update" opens the marketplace consent screen for that exact
version, whose POST installs it as an upgrade with the ticked grants."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace.updates import updates_for
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.common import page, route_kwargs
from proofpix_plugins.web.pages.plugins import admin
from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from proofpix_plugins.web.templating import render

router = APIRouter()


@page
async def updates_page(request: Request, console: Console) -> Response:
    principal = await admin(request, console)
    async with session_scope(request.app.state.session_factory) as session:
        found = await updates_for(session, principal.org_id)
    return render(request, "updates.html", title="Updates available", updates=found,
                  plain=PLAIN_PERMISSIONS)


router.add_api_route("/console/updates", updates_page, methods=["GET"], **route_kwargs())
