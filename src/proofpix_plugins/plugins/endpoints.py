"""Plugin routes of SPEC §7: thin — parse, authorize, delegate to ``PluginService``, shape."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from proofpix_plugins.accounts.auth import Principal, require_role, require_tier
from proofpix_plugins.accounts.tokens import AccessTokens
from proofpix_plugins.config import Settings
from proofpix_plugins.errors import (
    FieldError,
    NotFound,
    ProofPixError,
    UnsupportedMediaType,
    ValidationFailed,
)
from proofpix_plugins.kit.hook_schemas import HookResultOut
from proofpix_plugins.kit.pagination import Page, PageParams
from proofpix_plugins.kit.problem import validation_field_errors
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.models.accounts import Tier
from proofpix_plugins.plugins.event_hub import EventHub, Subscription, TooManySubscribers
from proofpix_plugins.plugins.schemas import (
    ConfigIn,
    ConfigOut,
    EventOut,
    GrantRequest,
    HookCallIn,
    InstallMetadata,
    InstallResult,
    MarketplaceInstall,
    MetricsOut,
    PluginDetail,
    PluginOut,
)
from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.storage.uploads import spool_multipart

log = structlog.get_logger(__name__)

router = APIRouter(
    prefix="/api/plugins", tags=["plugins"],
    responses=problem_responses(401, 403, 404, 422, 429),
)

_enterprise = require_tier(Tier.enterprise)
_admin_role = require_role("owner", "admin")
Member = Annotated[Principal, Depends(_enterprise)]


async def _enterprise_admin(principal: Member) -> Principal:
    """Plugin management: an enterprise organization, and the admin or owner role in it."""
    return await _admin_role(principal)


Admin = Annotated[Principal, Depends(_enterprise_admin)]
PluginOps = [Depends(rate_limit("plugin_ops"))]
ZIP_MAGIC = b"PK\x03\x04"


def _service(request: Request) -> PluginService:
    service: PluginService = request.app.state.plugin_service
    return service


Service = Annotated[PluginService, Depends(_service)]


@router.get("", response_model=Page[PluginOut])
async def list_plugins(
    principal: Member,
    service: Service,
    params: Annotated[PageParams, Query()],
    status: Annotated[str | None, Query(max_length=32)] = None,
    type: Annotated[str | None, Query(max_length=32)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[PluginOut]:
    """Installed plugins of the caller's organization."""
    items, total = await service.list_plugins(
        principal.org_id, status=status, type_=type, category=category, q=q,
        page=params.page, limit=params.limit,
    )
    return Page.of(items, total, params)


async def _parse_install(request: Request) -> tuple[str, Any]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = await request.body()
        if len(body) > 64 * 1024:
            raise ValidationFailed("install request body too large")
        try:
            return "marketplace", MarketplaceInstall.model_validate_json(body)
        except ValidationError as exc:
            raise _validation("", exc) from None
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            "send multipart/form-data with a 'file' part (.ppx), or JSON for a marketplace install",
            errors=(FieldError("content-type", "multipart/form-data or application/json",
                               "media-type"),),
        )
    settings: Settings = request.app.state.settings
    upload = await spool_multipart(ctype, request.stream(), file_field="file",
                                   max_bytes=settings.max_upload_bytes)
    return "upload", upload


def _validation(prefix: str, exc: ValidationError) -> ValidationFailed:
    """The request-validation rendering of kit.problem, for bodies parsed by hand here."""
    errors = tuple(
        dataclasses.replace(e, field=".".join(filter(None, [prefix, e.field])) or prefix)
        for e in validation_field_errors(exc.errors())
    )
    return ValidationFailed("request body is invalid", errors=errors)


@router.post("/install", response_model=InstallResult, status_code=201, dependencies=PluginOps,
             responses=problem_responses(409, 413, 415),
             openapi_extra={"requestBody": {"content": {
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                    "properties": {
                                                        "file": {"type": "string",
                                                                 "format": "binary"},
                                                        "metadata": {"type": "string"}}}},
                 "application/json": {"schema": MarketplaceInstall.model_json_schema()}}}})
async def install_plugin(request: Request, principal: Admin, service: Service) -> InstallResult:
    """Install or upgrade a plugin from an uploaded .ppx (or, later, the marketplace)."""
    kind, parsed = await _parse_install(request)
    if kind == "marketplace":
        raise NotFound(
            f"plugin {parsed.plugin_id} is not published in the marketplace",
            errors=(FieldError("pluginId", "not found in the marketplace", "not-found",
                               parsed.plugin_id),),
        )
    upload = parsed
    try:
        with upload.path.open("rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                raise UnsupportedMediaType(
                    "the file is not a .ppx (zip) package",
                    errors=(FieldError("file", "must be a .ppx zip archive", "media-type"),),
                )
        grant = None
        raw = upload.fields.get("metadata")
        if raw:
            try:
                meta = InstallMetadata.model_validate(orjson.loads(raw))
            except orjson.JSONDecodeError:
                raise ValidationFailed(
                    "metadata is not JSON",
                    errors=(FieldError("metadata", "must be a JSON object", "json"),),
                ) from None
            except ValidationError as exc:
                raise _validation("metadata", exc) from None
            grant = meta.grant_permissions
        return await service.install_plugin(
            principal.org_id, upload.path, actor=principal.user_id, grant_permissions=grant
        )
    finally:
        upload.discard()


WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403
WS_GOING_AWAY = 1001
WS_TRY_AGAIN_LATER = 1013


@router.websocket("/events/ws")
async def events_ws(websocket: WebSocket) -> None:
    """Live plugin events of the caller's organization (token in the query or a header).

    Refusals close with 4401 (no, invalid or expired token) or 4403 (not an enterprise
    organization), or 1013 when the organization holds too many live listeners on this node.
    The stream also ends with 4401 when the token expires, so a socket never
    outlives the credential that opened it, and with 1001 when the server shuts down.
    """
    token = websocket.query_params.get("access_token") or ""
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    tokens: AccessTokens = websocket.app.state.access_tokens
    try:
        claims = tokens.decode(token)
    except ProofPixError as exc:
        await _refuse(websocket, WS_UNAUTHENTICATED, exc.detail)
        return
    if claims.tier != Tier.enterprise.value:
        await _refuse(websocket, WS_FORBIDDEN, "plugin events need an enterprise organization")
        return
    hub: EventHub = websocket.app.state.event_hub
    # Subscribe before completing the handshake: once the client sees the socket open, no event
    # of its organization can slip past it.
    try:
        stream = hub.subscribe(str(claims.org_id))
    except TooManySubscribers as exc:
        await _refuse(websocket, WS_TRY_AGAIN_LATER, str(exc))
        return
    with stream:
        await websocket.accept()
        await _pump_events(websocket, stream, claims.expires_at)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    # Accept before refusing: a close during the handshake reaches clients as a bare HTTP 403,
    # without the code and reason that tell them to log in again. A close reason must fit in
    # 123 bytes of UTF-8.
    await websocket.accept()
    await websocket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))


async def _pump_events(websocket: WebSocket, stream: Subscription, expires_at: datetime) -> None:
    """Forward ``stream`` until the client leaves, the token expires or the hub closes."""

    async def forward() -> None:
        async for event in stream:
            await websocket.send_json(event)

    async def until_disconnect() -> None:
        # Clients have nothing to say; reading is how a departure is noticed while no events
        # flow (otherwise the subscription would linger until the organization's next event).
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    sender = asyncio.create_task(forward())
    reader = asyncio.create_task(until_disconnect())
    ttl = (expires_at - datetime.now(UTC)).total_seconds()
    done, pending = await asyncio.wait(
        {sender, reader}, timeout=max(ttl, 0.0), return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            # The client went away mid-send; there is nobody left to tell.
            return
    if reader in done:
        return
    code, reason = (
        (WS_GOING_AWAY, "server shutting down") if sender in done
        else (WS_UNAUTHENTICATED, "the access token has expired")
    )
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=code, reason=reason)


@router.post("/hooks/{hook_name}", dependencies=[Depends(rate_limit("hooks"))],
             response_model=HookResultOut, response_model_exclude_none=True)
async def execute_hook(
    hook_name: str, body: HookCallIn, principal: Member, service: Service
) -> dict[str, Any]:
    """Run a hook on the organization's loaded plugins (SPEC §4)."""
    result = await service.execute_hook(principal.org_id, hook_name, body.data, body.options)
    return result.to_wire()


@router.get("/{plugin_id}", response_model=PluginDetail)
async def get_plugin(plugin_id: str, principal: Member, service: Service) -> PluginDetail:
    return await service.get_plugin(principal.org_id, plugin_id)


@router.post("/{plugin_id}/load", response_model=PluginDetail, dependencies=PluginOps,
             responses=problem_responses(409))
async def load_plugin(plugin_id: str, principal: Admin, service: Service) -> PluginDetail:
    return await service.load_plugin(principal.org_id, plugin_id, actor=principal.user_id)


@router.post("/{plugin_id}/unload", response_model=PluginDetail, dependencies=PluginOps,
             responses=problem_responses(409))
async def unload_plugin(plugin_id: str, principal: Admin, service: Service) -> PluginDetail:
    return await service.unload_plugin(principal.org_id, plugin_id, actor=principal.user_id)


@router.post("/{plugin_id}/permissions", response_model=PluginDetail, dependencies=PluginOps)
async def grant_permissions(
    plugin_id: str, body: GrantRequest, principal: Admin, service: Service
) -> PluginDetail:
    """Consent to permissions an upgrade asked for (or ones withheld at install)."""
    return await service.grant_permissions(
        principal.org_id, plugin_id, body.grant_permissions, actor=principal.user_id
    )


@router.get("/{plugin_id}/config", response_model=ConfigOut)
async def get_config(plugin_id: str, principal: Admin, service: Service) -> ConfigOut:
    return await service.get_plugin_config(principal.org_id, plugin_id)


@router.put("/{plugin_id}/config", response_model=ConfigOut, dependencies=PluginOps)
async def put_config(
    plugin_id: str, body: ConfigIn, principal: Admin, service: Service
) -> ConfigOut:
    return await service.update_plugin_config(
        principal.org_id, plugin_id, body.values, actor=principal.user_id
    )


@router.get("/{plugin_id}/metrics", response_model=MetricsOut)
async def get_metrics(
    plugin_id: str,
    principal: Member,
    service: Service,
    minutes: Annotated[int, Query(ge=1, le=7 * 24 * 60)] = 60,
) -> dict[str, Any]:
    return await service.get_plugin_metrics(principal.org_id, plugin_id, minutes=minutes)


@router.get("/{plugin_id}/events", response_model=Page[EventOut])
async def list_events(
    plugin_id: str,
    principal: Admin,
    service: Service,
    params: Annotated[PageParams, Query()],
    type: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[EventOut]:
    items, total = await service.list_plugin_events(
        principal.org_id, plugin_id, page=params.page, limit=params.limit, event_type=type
    )
    return Page.of(items, total, params)


@router.delete("/{plugin_id}", status_code=204, dependencies=PluginOps,
               responses=problem_responses(409))
async def uninstall_plugin(plugin_id: str, principal: Admin, service: Service) -> None:
    await service.uninstall_plugin(principal.org_id, plugin_id, actor=principal.user_id)
