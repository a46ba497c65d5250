"""Photos: upload one (the organization's loaded plugins run on it through ``FileService``, as
for ``POST /api/files``) and see every plugin's result beside the original and processed
variant."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.errors import NotFound
from proofpix_plugins.files.service import FileService
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.web.auth import Console, require_user
from proofpix_plugins.web.pages.common import (
    UPLOAD_BODY,
    page,
    redirect,
    route_kwargs,
    spool_upload,
    upload_page,
)
from proofpix_plugins.web.templating import render

router = APIRouter()
_FILE_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}$")
_uploads_limit = rate_limit("uploads")


def files(request: Request) -> FileService:
    svc: FileService = request.app.state.file_service
    return svc


def file_id(request: Request) -> str:
    value = str(request.path_params.get("file_id", ""))
    if not _FILE_ID.match(value):
        raise NotFound(detail="no photo has this id")
    return value


@page
async def upload_form(request: Request, console: Console) -> Response:
    require_user(console)
    return render(request, "photos/upload.html", title="Photos")


@upload_page
async def upload(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _uploads_limit(request)
    spooled = await spool_upload(request, console)
    try:
        record = await files(request).upload(principal.org_id, principal.user_id, spooled)
    finally:
        spooled.discard()
    return redirect(request, console, f"/console/photos/{record.id}")


@page
async def result(request: Request, console: Console) -> Response:
    principal = require_user(console)
    record = await files(request).get(principal.org_id, file_id(request))
    return render(request, "photos/result.html", title=record.filename, photo=record)


@page
async def content(request: Request, console: Console) -> Response:
    principal = require_user(console)
    variant = request.query_params.get("variant", "original")
    if variant not in ("original", "processed"):
        raise NotFound(detail="variant is original or processed")
    data, content_type = await files(request).content(principal.org_id, file_id(request),
                                                      variant)
    return Response(data, media_type=content_type, headers={
        "Cache-Control": "private, max-age=0", "Content-Disposition": "inline"})


_ID = "/console/photos/{file_id}"
router.add_api_route("/console/photos", upload_form, methods=["GET"], **route_kwargs())
router.add_api_route("/console/photos", upload, methods=["POST"],
                     **route_kwargs(openapi_extra=UPLOAD_BODY))
router.add_api_route(_ID, result, methods=["GET"], **route_kwargs())
router.add_api_route(_ID + "/content", content, methods=["GET"], **route_kwargs())
