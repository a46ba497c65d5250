"""Photo routes: upload (fires the plugin hooks), read the record, read the bytes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from proofpix_plugins.accounts.auth import CurrentUser
from proofpix_plugins.config import Settings
from proofpix_plugins.files.schemas import FileOut
from proofpix_plugins.files.service import FileService
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit, rate_limit_reads
from proofpix_plugins.storage.uploads import spool_multipart

router = APIRouter(
    prefix="/api/files", tags=["files"],
    responses=problem_responses(401, 404, 413, 415, 422, 429),
    dependencies=[Depends(rate_limit_reads("default"))],  # uploads declare their own class
)


async def _service(request: Request) -> FileService:
    service: FileService = request.app.state.file_service
    return service


Service = Annotated[FileService, Depends(_service)]


@router.post(
    "", response_model=FileOut, status_code=201, dependencies=[Depends(rate_limit("uploads"))],
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"],
                   "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
)
async def upload_file(request: Request, principal: CurrentUser, service: Service) -> FileOut:
    """Upload a photo (type decided by decoding, ≤ the upload limit); plugins run on it."""
    settings: Settings = request.app.state.settings
    upload = await spool_multipart(
        request.headers.get("content-type", ""), request.stream(), file_field="file",
        max_bytes=settings.max_upload_bytes, tmp_dir=request.app.state.upload_spool.root,
    )
    try:
        return await service.upload(principal.org_id, principal.user_id, upload)
    finally:
        upload.discard()


@router.post(
    "/{file_id}/reprocess", response_model=FileOut,
    dependencies=[Depends(rate_limit("uploads"))], responses=problem_responses(409),
)
async def reprocess_file(file_id: str, principal: CurrentUser, service: Service) -> FileOut:
    """Run the plugins on the photo again (e.g. one left ``incomplete`` by a crash); its
    previous results are replaced. 409 while its plugins are running."""
    return await service.reprocess(principal.org_id, file_id)


@router.get("/{file_id}", response_model=FileOut)
async def get_file(file_id: str, principal: CurrentUser, service: Service) -> FileOut:
    return await service.get(principal.org_id, file_id)


@router.get("/{file_id}/content", response_class=Response)
async def get_content(
    file_id: str,
    principal: CurrentUser,
    service: Service,
    variant: Annotated[Literal["original", "processed"], Query()] = "original",
) -> Response:
    data, content_type = await service.content(principal.org_id, file_id, variant)
    return Response(
        data, media_type=content_type,
        headers={"Cache-Control": "private, max-age=0", "Content-Disposition": "inline"},
    )
