"""Public routes: the marketplace's public key and the hash-chained publication log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from proofpix_plugins.db import SessionDep
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit_reads
from proofpix_plugins.marketplace import publog
from proofpix_plugins.marketplace.schemas import LogHead, LogPage, PublicKeyOut
from proofpix_plugins.models.marketplace import PublicationLogHead
from proofpix_plugins.packages.platform_key import PlatformKey

router = APIRouter(prefix="/api/plugins/marketplace", tags=["marketplace"],
                   dependencies=[Depends(rate_limit_reads())],
                   responses=problem_responses(422))

PEM_TYPE = "application/x-pem-file"
MAX_LOG_PAGE = 1000
#: The key changes only with a deliberate rotation (a ``marketplace_key`` log entry).
KEY_CACHE = "public, max-age=3600"


@router.get("/public-key", response_model=PublicKeyOut, responses={200: {
    "content": {PEM_TYPE: {"schema": {"type": "string"},
                           "example": "-----BEGIN PUBLIC KEY-----\n...\n"}},
    "description": "The key as JSON, or as PEM when `Accept: application/x-pem-file`.",
}})
async def marketplace_public_key(request: Request) -> Response:
    """Read the marketplace's public signing key

    The ed25519 key that signs every published artifact (`X-Signature` of a download,
    `signature` of a version and of a `publish` log entry) and the log's head. JSON by
    default; the bare PEM when the request accepts `application/x-pem-file`. Cacheable.

    Who: anyone; no authentication.
    """
    key: PlatformKey = request.app.state.platform_key
    headers = {"Cache-Control": KEY_CACHE, "ETag": f'"{key.key_id}"', "Vary": "Accept"}
    if PEM_TYPE in request.headers.get("accept", ""):
        return Response(key.public_pem, media_type=PEM_TYPE, headers=headers)
    body = PublicKeyOut(key_id=key.key_id, algorithm="ed25519",
                        public_key_pem=key.public_pem.decode("ascii"))
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


@router.get("/log", response_model=LogPage)
async def publication_log(
    request: Request,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="return entries after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE, description="entries per page")] = 100,
) -> LogPage:
    """Read the publication log

    Entries of the tamper-evident, hash-chained log of every publish, review, yank, suspend
    and key change, oldest first, after `after`, and the head as of this read signed by the
    marketplace key. Page with `nextAfter` until it is null; verify with
    `proofpix-plugins marketplace verify-log`.

    Who: anyone; no authentication.
    """
    key: PlatformKey = request.app.state.platform_key
    # The head first, then entries up to it: a page never runs past the head it is served
    # with, so a verifier can always check the chain against the signed head.
    head_seq, head_hash = await _head(session)
    rows = [e for e in await publog.entries(session, after=after, limit=limit)
            if e.seq <= head_seq]
    last = rows[-1].seq if rows else after
    return LogPage.model_validate({
        "items": [publog.served(e) for e in rows],
        "total": head_seq, "after": after, "limit": limit,
        "nextAfter": last if last < head_seq else None,
        "head": LogHead(seq=head_seq, hash=head_hash,
                        signature=publog.sign_head(key, head_seq, head_hash)),
    })


async def _head(session: SessionDep) -> tuple[int, str]:
    # The head row is seeded by the migration; a database emptied by hand has none until the
    # next append puts it back (publog.append), and reads as an empty log meanwhile.
    row = (await session.execute(
        select(PublicationLogHead.seq, PublicationLogHead.entry_hash)
        .where(PublicationLogHead.id == publog.HEAD_ID))).one_or_none()
    return (int(row[0]), str(row[1])) if row else (0, publog.GENESIS)
