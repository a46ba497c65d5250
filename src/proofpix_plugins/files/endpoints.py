"""Photo routes: upload (fires the plugin hooks), read the record, read the bytes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from proofpix_plugins.accounts.auth import CurrentUser
from proofpix_plugins.config import Settings
from proofpix_plugins.files.schemas import FileOut
from proofpix_plugins.files.service import FileService
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit, rate_limit_reads
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.storage.uploads import spool_multipart

# Problem statuses are derived per route (kit/openapi.py); the upload's 415 (not a decodable
# image) comes from the service. PatternRoute routes only well-formed file ids.
router = APIRouter(
    prefix="/api/files", tags=["files"], route_class=PatternRoute,
    dependencies=[Depends(rate_limit_reads("default"))],  # uploads declare their own class
)

FileId = Annotated[str, Path(
    pattern="^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
    description="The file's id (a UUID), from the upload's answer.",
    examples=["3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"],
)]


async def _service(request: Request) -> FileService:
    service: FileService = request.app.state.file_service
    return service


Service = Annotated[FileService, Depends(_service)]


@router.post(
    "", response_model=FileOut, status_code=201, dependencies=[Depends(rate_limit("uploads"))],
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"],
                   "properties": {"file": {"type": "string", "format": "binary",
                                           "description": "The photo (JPEG, PNG, GIF, TIFF, "
                                           "WebP, BMP), at most the upload limit."}}}}}}},
    responses=problem_responses(415, 507),
)
async def upload_file(request: Request, principal: CurrentUser, service: Service) -> FileOut:
    """Upload a photo

    Streams the photo (multipart part `file`), decides its type by decoding it, stores it, and
    runs the organization's loaded plugins on it (`file:uploaded`, then `file:process`); answers
    the file's record with each plugin's result.

    Who: a logged-in user, in the organization of their token. Notable errors: 415 when the
    file is not a decodable image, 413 over the upload limit, 400 for a broken multipart body,
    507 when the server's storage is full (nothing is kept; retry once space is freed).
    """
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
async def reprocess_file(file_id: FileId, principal: CurrentUser, service: Service) -> FileOut:
    """Run the plugins on a photo again

    Runs the organization's loaded plugins on the stored photo again (e.g. one left
    `incomplete` by a crash); its previous plugin results are replaced. Answers the file's
    record with the new results.

    Who: a logged-in user of the file's organization (404 for anyone else). Notable errors:
    409 while its plugins are running.
    """
    return await service.reprocess(principal.org_id, file_id)


@router.get("/{file_id}", response_model=FileOut)
async def get_file(file_id: FileId, principal: CurrentUser, service: Service) -> FileOut:
    """Read a file's record

    Its name, type, size, hashes, dimensions, EXIF, plugin metadata and plugin results.

    Who: a logged-in user of the file's organization (404 for anyone else).
    """
    return await service.get(principal.org_id, file_id)


@router.get("/{file_id}/content", response_class=Response, responses={200: {
    "description": "The image bytes, with the image's own media type.",
    "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
}})
async def get_content(
    file_id: FileId,
    principal: CurrentUser,
    service: Service,
    variant: Annotated[Literal["original", "processed"], Query(description=(
        "`original`: the bytes as uploaded; `processed`: as the processor plugins left them "
        "(404 when none changed the photo)."))] = "original",
) -> Response:
    """Read a file's bytes

    The photo as uploaded, or as processed by the organization's processor plugins.

    Who: a logged-in user of the file's organization (404 for anyone else).
    """
    data, content_type = await service.content(principal.org_id, file_id, variant)
    return Response(
        data, media_type=content_type,
        headers={"Cache-Control": "private, max-age=0", "Content-Disposition": "inline"},
    )
