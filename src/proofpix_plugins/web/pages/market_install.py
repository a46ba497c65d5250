"""Install from the marketplace: ``/marketplace/{pluginId}/install`` shows the consent screen
(the install-by-upload one: each requested permission a checkbox, with its hosts) for the
newest visible version, whose artifact is checked out and verified first; the POST installs
that exact version through ``PluginService.install_plugin`` with the marketplace's expected id,
version and publisher, then counts the install, as ``POST /api/plugins/install`` with
``source: marketplace`` does. A plugin whose required configuration is missing lands on its
configuration form."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.errors import FieldError, ServiceUnavailable, ValidationFailed
from proofpix_plugins.plugins.marketplace_source import MarketplaceSource
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.common import field, form_data, page, redirect, route_kwargs
from proofpix_plugins.web.pages.marketplace import plugin_id_of
from proofpix_plugins.web.pages.plugins import admin, service
from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from proofpix_plugins.web.staging import read_manifest
from proofpix_plugins.web.templating import render

router = APIRouter()
_VERSION = re.compile(r"^[0-9A-Za-z.+-]{1,64}$")


def source_of(request: Request) -> MarketplaceSource:
    source: MarketplaceSource | None = getattr(request.app.state, "marketplace_source", None)
    if source is None:
        raise ServiceUnavailable("this server has no marketplace")
    return source


def _version(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if not _VERSION.match(raw):
        raise ValidationFailed("the version is not valid",
                               errors=(FieldError("version", "not a version", "pattern"),))
    return raw


@page
async def consent(request: Request, console: Console) -> Response:
    await admin(request, console)
    plugin_id = plugin_id_of(request)
    version = _version(request.query_params.get("version"))
    async with source_of(request).checkout(plugin_id, version) as artifact:
        manifest = await asyncio.to_thread(read_manifest, artifact.path)
        notices = list(artifact.notices)
        version = artifact.version
    return render(request, "install/consent.html", title="Review permissions",
                  manifest=manifest, descriptions=PLAIN_PERMISSIONS, notices=notices,
                  action=f"/marketplace/{plugin_id}/install", hidden={"version": version})


@page
async def install(request: Request, console: Console) -> Response:
    principal = await admin(request, console)
    plugin_id = plugin_id_of(request)
    form = await form_data(request)
    if field(form, "decision") == "cancel":
        return redirect(request, console, f"/marketplace/{plugin_id}")
    version = _version(field(form, "version"))
    grants = [v for v in form.getlist("grant") if isinstance(v, str)]
    source = source_of(request)
    async with source.checkout(plugin_id, version) as artifact:
        result = await service(request).install_plugin(
            principal.org_id, artifact.path, actor=principal.user_id, grant_permissions=grants,
            expected_publisher=artifact.publisher, expected_id=artifact.plugin_id,
            expected_version=artifact.version)
        await source.record_install(artifact.plugin_id, artifact.version)
    pid = result.plugin.id
    anchor = "#configuration" if result.plugin.status == "needs_configuration" else ""
    return redirect(request, console, f"/console/plugins/{pid}?installed=1{anchor}")


router.add_api_route("/marketplace/{plugin_id}/install", consent, methods=["GET"],
                     **route_kwargs())
router.add_api_route("/marketplace/{plugin_id}/install", install, methods=["POST"],
                     **route_kwargs())
