"""Install by upload: the ``.ppx`` is staged, a consent screen lists the permissions and network
hosts it asks for with a choice of which to grant, then ``PluginService.install_plugin`` runs
(the same vetting and rules as ``POST /api/plugins/install``). A plugin whose required
configuration is missing lands on its configuration form."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.errors import FieldError, ProofPixError, ValidationFailed
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.pages.common import (
    UPLOAD_BODY,
    field,
    form_data,
    page,
    redirect,
    route_kwargs,
    spool_upload,
    upload_page,
)
from proofpix_plugins.web.pages.plugins import admin, member, service
from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from proofpix_plugins.web.staging import Staging, read_manifest
from proofpix_plugins.web.templating import render

router = APIRouter()
ZIP_MAGIC = b"PK\x03\x04"


def staging(request: Request) -> Staging:
    return Staging(request.app.state.settings.data_dir.resolve() / "console-staging")


@page
async def upload_form(request: Request, console: Console) -> Response:
    await member(console)
    return render(request, "install/upload.html", title="Install a plugin", errors=[])


def _upload_error(request: Request, status: int, errors: list[str]) -> Response:
    return render(request, "install/upload.html", status_code=status, title="Install a plugin",
                  errors=errors)


@upload_page
async def upload(request: Request, console: Console) -> Response:
    principal = await admin(request, console)
    spooled = await spool_upload(request, console)
    try:
        with spooled.path.open("rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                return _upload_error(request, 415, ["The file is not a .ppx (zip) package."])
        try:
            manifest = await asyncio.to_thread(read_manifest, spooled.path)
        except ValidationError as exc:
            return _upload_error(request, 422, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                for e in exc.errors()[:20]])
        except ProofPixError as exc:
            return _upload_error(request, exc.status, [exc.detail, *(
                f"{e.field}: {e.message}" for e in exc.errors)])
        token = staging(request).stage(spooled.path, principal.user_id, principal.org_id)
    finally:
        spooled.discard()
    return render(request, "install/consent.html", title="Review permissions", token=token,
                  manifest=manifest, descriptions=PLAIN_PERMISSIONS, notices=[],
                  action="/console/install/confirm", hidden={"token": token})


@page
async def confirm(request: Request, console: Console) -> Response:
    principal = await admin(request, console)
    form = await form_data(request)
    token = field(form, "token")
    store = staging(request)
    package = store.open(token, principal.user_id, principal.org_id)
    if package is None:
        raise ValidationFailed("this upload is unknown or expired; upload the package again",
                               errors=(FieldError("token", "unknown or expired", "staged"),))
    if field(form, "decision") == "cancel":
        store.discard(token)
        return redirect(request, console, "/console/install")
    grants = [v for v in form.getlist("grant") if isinstance(v, str)]
    try:
        result = await service(request).install_plugin(
            principal.org_id, package, actor=principal.user_id, grant_permissions=grants)
    finally:
        store.discard(token)
    pid = result.plugin.id
    anchor = "#configuration" if result.plugin.status == "needs_configuration" else ""
    return redirect(request, console, f"/console/plugins/{pid}?installed=1{anchor}")


router.add_api_route("/console/install", upload_form, methods=["GET"], **route_kwargs())
router.add_api_route("/console/install", upload, methods=["POST"],
                     **route_kwargs(openapi_extra=UPLOAD_BODY))
router.add_api_route("/console/install/confirm", confirm, methods=["POST"], **route_kwargs())
