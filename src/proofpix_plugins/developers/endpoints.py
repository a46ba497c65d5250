"""``/api/developers``: profile, API keys, ``whoami``; ``/api/admin/developers``: verification.

Who manages keys: the developer's *logged-in user* (Bearer token), never an API key. A key
that leaks (a CI log, a pasted config) can then publish until it is revoked, but it cannot mint
more keys or revoke the owner's: the account password and its short-lived tokens stay the root
of the developer's identity (docs/decisions.md, "Developer accounts").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from proofpix_plugins.accounts.auth import CurrentUser, require_platform_admin
from proofpix_plugins.db import SessionDep
from proofpix_plugins.developers.auth import DeveloperPrincipal, require_api_key
from proofpix_plugins.developers.schemas import (
    ApiKeyCreatedOut,
    ApiKeyOut,
    CreateKeyIn,
    DeveloperOut,
    KeyId,
    NamespacePath,
    RegisterDeveloperIn,
    RegisteredDeveloperOut,
    VerifyIn,
    WhoAmIOut,
)
from proofpix_plugins.developers.sdk import LANGUAGES, SDK_VERSION, python_sdk
from proofpix_plugins.developers.service import DeveloperService
from proofpix_plugins.errors import NotFound
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.models.marketplace import ApiKey, ApiKeyScope

router = APIRouter(prefix="/api/developers", tags=["developers"], route_class=PatternRoute)
admin_router = APIRouter(
    prefix="/api/admin/developers", tags=["admin"], route_class=PatternRoute,
    dependencies=[Depends(require_platform_admin)],
)

# Minting a secret shares the strict budget of the other credential routes.
_MINT_LIMIT = [Depends(rate_limit("auth"))]
_DEFAULT_LIMIT = [Depends(rate_limit("default"))]


def _service(session: SessionDep) -> DeveloperService:
    return DeveloperService(session)


Service = Annotated[DeveloperService, Depends(_service)]


def _key_created(key: ApiKey, secret: str) -> ApiKeyCreatedOut:
    return ApiKeyCreatedOut.model_validate({**ApiKeyOut.model_validate(key).model_dump(),
                                           "secret": secret})


def _no_store(response: Response) -> None:
    # A response carrying a secret must not be kept by any cache.
    response.headers["Cache-Control"] = "no-store"


@router.post("/register", status_code=201, response_model=RegisteredDeveloperOut,
             dependencies=_MINT_LIMIT, responses=problem_responses(409))
async def register_developer(
    body: RegisterDeveloperIn, principal: CurrentUser, svc: Service, response: Response
) -> RegisteredDeveloperOut:
    """Become a developer

    Creates the caller's developer profile with a namespace (the publisher part of plugin ids)
    and a first API key (scopes `publish` and `read`, 90 days) whose secret is shown only in
    this response. A namespace is refused, naming the rule, when it is malformed
    (`namespace_format`), reserved or a look-alike of a reserved name (`namespace_reserved`,
    422), taken (`namespace_taken`), confusable with an existing namespace by its Unicode TR39
    skeleton (`namespace_confusable`) or within a small edit distance of a verified one
    (`namespace_similar_to_verified`, 409).

    Who: any logged-in user, once (409 when the user already has a profile).
    """
    developer, key, secret = await svc.register(
        principal.user_id, body.namespace, body.display_name
    )
    _no_store(response)
    return RegisteredDeveloperOut(
        developer=DeveloperOut.model_validate(developer), api_key=_key_created(key, secret)
    )


@router.get("/me", response_model=DeveloperOut, dependencies=_DEFAULT_LIMIT,
            responses=problem_responses(404))
async def my_developer_profile(principal: CurrentUser, svc: Service) -> DeveloperOut:
    """Read my developer profile

    The caller's namespace, display name and verification.

    Who: a logged-in user; 404 when the user has no developer profile.
    """
    return DeveloperOut.model_validate(await svc.require_profile(principal.user_id))


@router.post("/keys", status_code=201, response_model=ApiKeyCreatedOut,
             dependencies=_MINT_LIMIT, responses=problem_responses(404, 409))
async def create_api_key(
    body: CreateKeyIn, principal: CurrentUser, svc: Service, response: Response
) -> ApiKeyCreatedOut:
    """Create an API key

    A new key with the given scopes and lifetime (1-365 days, default 90). The secret is in
    this response only; the server keeps its SHA-256.

    Who: the developer's logged-in user (Bearer token). An API key cannot create keys, so a
    leaked key cannot mint more. 404 without a developer profile; 409 at 25 active keys.
    """
    developer = await svc.require_profile(principal.user_id)
    key, secret = await svc.create_key(
        developer, body.name, body.scopes, body.expires_in_days
    )
    _no_store(response)
    return _key_created(key, secret)


def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = (
        DEFAULT_LIMIT),
) -> PageParams:
    return PageParams(page=page, limit=limit)


@router.get("/keys", response_model=Page[ApiKeyOut], dependencies=_DEFAULT_LIMIT,
            responses=problem_responses(404))
async def list_api_keys(
    principal: CurrentUser, svc: Service, params: Annotated[PageParams, Depends(_page)]
) -> Page[ApiKeyOut]:
    """List my API keys

    Every key of the caller's developer profile, newest first, revoked and expired ones
    included, each with its prefix, scopes and dates: never a secret.

    Who: the developer's logged-in user; 404 without a developer profile.
    """
    developer = await svc.require_profile(principal.user_id)
    keys, total = await svc.list_keys(developer, offset=params.offset, limit=params.limit)
    return Page.of([ApiKeyOut.model_validate(k) for k in keys], total, params)


@router.delete("/keys/{key_id}", status_code=204, responses=problem_responses(404))
async def revoke_api_key(key_id: KeyId, principal: CurrentUser, svc: Service) -> Response:
    """Revoke an API key

    The key stops authenticating at once. Revoking a revoked key again is not an error.

    Who: the developer's logged-in user. 404 for a key that is not the caller's (another
    developer's key included) and without a developer profile.
    """
    developer = await svc.require_profile(principal.user_id)
    await svc.revoke_key(developer, as_uuid(key_id, NotFound, "no API key of yours has this id"))
    return Response(status_code=204)


@router.get("/whoami", response_model=WhoAmIOut, dependencies=_DEFAULT_LIMIT)
async def developer_whoami(
    developer: Annotated[DeveloperPrincipal, Depends(require_api_key(ApiKeyScope.read))],
) -> WhoAmIOut:
    """Check an API key

    The namespace, its verification and the scopes of the key sent as `X-API-Key`: a way
    for a CI job to check its key before it publishes.

    Who: a developer API key with the `read` scope (401 for a missing, malformed, unknown,
    revoked or expired key; 403 for a key without `read`).
    """
    return WhoAmIOut(
        namespace=developer.namespace, verified=developer.verified, key_id=developer.key_id,
        scopes=sorted(ApiKeyScope(s) for s in developer.scopes),
    )


@admin_router.post("/{namespace}/verify", response_model=DeveloperOut,
                   responses=problem_responses(404))
async def verify_developer(
    namespace: NamespacePath, body: VerifyIn, svc: Service
) -> DeveloperOut:
    """Verify a namespace

    Marks a developer's namespace verified (or withdraws it) with the reason, and updates the
    badge of every listing of the developer in the same transaction. A verified namespace is
    also protected: new namespaces within a small edit distance of it are refused.

    Who: a platform administrator (403 for anyone else). 404 when no developer has the
    namespace.
    """
    developer = await svc.set_verified(namespace, body.verified, body.reason)
    return DeveloperOut.model_validate(developer)


@router.get("/sdk/{language}", response_class=Response, dependencies=_DEFAULT_LIMIT, responses={
    200: {"description": "The SDK zip (`Content-Disposition: attachment`), with an `ETag`.",
          "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
    304: {"description": "The zip the client holds (`If-None-Match`) is still current."},
    **problem_responses(404),
})
async def download_sdk(
    language: Annotated[str, Path(max_length=32, description=(
        "The SDK's language; `python` is the one offered."), examples=["python"])],
    request: Request,
    version: Annotated[str, Query(max_length=32, description=(
        "`latest` or the exact SDK version (the platform's version)."))] = "latest",
) -> Response:
    """Download the plugin SDK

    A zip holding the `proofpix-sdk` package as a wheel that `pip install --no-index` installs
    offline and as a source distribution, a template plugin that passes the marketplace scan,
    and the plugin authoring guide. The bytes are the same for the same SDK and docs, so the
    `ETag` lets clients skip a download (`If-None-Match` answers 304).

    Who: anyone; no token. 404 (listing what exists) for another language or version.
    """
    if language not in LANGUAGES:
        raise NotFound(
            detail=f"no SDK for {language!r}; available: {', '.join(LANGUAGES)}",
            extensions={"languages": list(LANGUAGES)},
        )
    if version not in ("latest", SDK_VERSION):
        raise NotFound(
            detail=f"no SDK version {version!r}; available: latest, {SDK_VERSION}",
            extensions={"versions": ["latest", SDK_VERSION]},
        )
    archive = python_sdk()
    headers = {"ETag": archive.etag, "Cache-Control": "public, max-age=300"}
    if _matches(request.headers.get("if-none-match", ""), archive.etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{archive.filename}"'
    return Response(archive.content, media_type="application/zip", headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: a weak comparison against each listed tag, or ``*``."""
    tags = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in tags or etag in tags
