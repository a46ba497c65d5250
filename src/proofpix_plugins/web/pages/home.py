"""``/``: the marketplace home. Until the marketplace service is merged (second wave) it shows
the console's layout, the organization's installed plugins at a glance and where the
marketplace will be; the integrator replaces the placeholder section with search and featured
listings."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.models.accounts import Tier
from proofpix_plugins.plugins.schemas import PluginOut
from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.common import page, route_kwargs
from proofpix_plugins.web.templating import render

router = APIRouter()
SHOWN = 5


@page
async def home(request: Request, console: Console) -> Response:
    principal = console.principal
    installed: list[PluginOut] = []
    total = 0
    # An app started without the plugin platform (platform=False) has no plugin service.
    svc: PluginService | None = getattr(request.app.state, "plugin_service", None)
    if svc is not None and principal is not None and principal.tier is Tier.enterprise:
        installed, total = await svc.list_plugins(
            principal.org_id, status=None, type_=None, category=None, q=None, page=1,
            limit=SHOWN)
    return render(request, "home.html", title="ProofPix", installed=installed, total=total)


router.add_api_route("/", home, methods=["GET"], **route_kwargs())
