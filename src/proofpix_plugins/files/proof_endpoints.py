"""Proof and export routes: sign a proof of a photo, list them, export a zip; the proof key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from proofpix_plugins.accounts.auth import CurrentUser
from proofpix_plugins.files.endpoints import FileId
from proofpix_plugins.files.proof_schemas import ProofCreatedOut, ProofKeyOut, ProofOut
from proofpix_plugins.files.proofs import ProofService
from proofpix_plugins.kit.hook_schemas import HookResultOut
from proofpix_plugins.kit.pagination import Page, PageParams
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit, rate_limit_reads
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.packages.platform_key import PlatformKey

router = APIRouter(
    prefix="/api/files", tags=["files"], route_class=PatternRoute,
    dependencies=[Depends(rate_limit_reads("default"))],
)
key_router = APIRouter(prefix="/api/proofs", tags=["files"],
                       dependencies=[Depends(rate_limit_reads("default"))])


async def _service(request: Request) -> ProofService:
    service: ProofService = request.app.state.proof_service
    return service


Service = Annotated[ProofService, Depends(_service)]


@router.post(
    "/{file_id}/proofs", response_model=ProofCreatedOut, status_code=201,
    dependencies=[Depends(rate_limit("hooks"))], responses=problem_responses(409),
)
async def create_proof(
    file_id: FileId, principal: CurrentUser, service: Service
) -> ProofCreatedOut:
    """Sign a proof of a photo

    Records a proof of the photo as it stands: the SHA-256 of the original, the EXIF the host
    read, what plugins stored and returned, the time and the platform key id, as canonical JSON
    signed with the platform's ed25519 key. The proof is stored first, then the
    `proof:created` hook runs on the organization's loaded plugins (connectors act on it).
    Verify it offline with `proofpix-plugins proof verify`.

    Who: a logged-in user of the file's organization (404 for anyone else). Notable errors:
    409 while the file's plugins are still running.
    """
    proof, outcome = await service.create(principal.org_id, principal.user_id, file_id)
    return ProofCreatedOut(proof=ProofOut.model_validate(proof),
                           hook_result=HookResultOut.model_validate(outcome.to_wire()))


@router.get("/{file_id}/proofs", response_model=Page[ProofOut])
async def list_proofs(
    file_id: FileId, principal: CurrentUser, service: Service,
    params: Annotated[PageParams, Query()],
) -> Page[ProofOut]:
    """List a photo's proofs

    The photo's signed proofs, oldest first, each exactly as it was signed.

    Who: a logged-in user of the file's organization (404 for anyone else).
    """
    items, total = await service.list_proofs(principal.org_id, file_id, offset=params.offset,
                                      limit=params.limit)
    return Page.of([ProofOut.model_validate(p) for p in items], total, params)


@router.get(
    "/{file_id}/export", response_class=Response,
    dependencies=[Depends(rate_limit("hooks"))],
    responses={200: {
        "description": "A zip: `original.<ext>`, `processed.<ext>` when a processor changed "
        "the photo, and `manifest.json` (schema: docs/hooks/export.before.schema.json).",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    }, **problem_responses(409, 502)},
)
async def export_file(file_id: FileId, principal: CurrentUser, service: Service) -> Response:
    """Export a photo

    A zip of the photo's variants and a JSON manifest (file facts, EXIF, plugin metadata and
    results, proofs). The `export:before` hook runs as a waterfall on the manifest first:
    plugins may add fields or redact them (remove the GPS position, drop the original). What
    each plugin returns is validated before it is used; a plugin that fails or returns an
    invalid manifest fails the export (502, naming it) rather than letting an unredacted
    export out.

    Who: a logged-in user of the file's organization (404 for anyone else). Notable errors:
    409 while the file's plugins are running, 502 when an `export:before` plugin failed.
    """
    data, name = await service.export(principal.org_id, file_id)
    return Response(data, media_type="application/zip", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="{name}"',
    })


@key_router.get("/public-key", response_model=ProofKeyOut)
async def proof_public_key(request: Request) -> ProofKeyOut:
    """Read the proof signing key

    The platform's ed25519 public key that signs proofs, and its key id, for
    `proofpix-plugins proof verify --server`.

    Who: anyone (no authentication).
    """
    key: PlatformKey = request.app.state.platform_key
    return ProofKeyOut(key_id=key.key_id, algorithm="ed25519",
                       public_key_pem=key.public_pem.decode("ascii"))
