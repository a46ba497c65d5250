"""Plugin routes of SPEC §7: thin — parse, authorize, delegate to ``PluginService``, shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket

from proofpix_plugins.accounts.auth import Principal, require_role, require_tier
from proofpix_plugins.kit.audit import audit_refusals_only
from proofpix_plugins.kit.hook_schemas import HookResultOut
from proofpix_plugins.kit.pagination import Page
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit, rate_limit_reads
from proofpix_plugins.models.accounts import Role, Tier
from proofpix_plugins.plugins.config_values import require_wire_values
from proofpix_plugins.plugins.events_ws import stream_plugin_events
from proofpix_plugins.plugins.hook_route import hook_route
from proofpix_plugins.plugins.install_form import OPENAPI_REQUEST_BODY, InstallForm, install_form
from proofpix_plugins.plugins.schemas import (
    ConfigIn,
    ConfigOut,
    EventListParams,
    EventOut,
    GrantRequest,
    HookCallIn,
    InstallResult,
    MetricsOut,
    PluginDetail,
    PluginListParams,
    PluginOut,
)
from proofpix_plugins.plugins.service import PluginService

router = APIRouter(
    prefix="/api/plugins", tags=["plugins"],
    responses=problem_responses(401, 403, 404, 422, 429),
    # Reads share the `default` class; each write declares its own class below.
    dependencies=[Depends(rate_limit_reads("default"))],
)

_enterprise = require_tier(Tier.enterprise)
_admin_role = require_role("owner", "admin")
_UNLOADERS = frozenset({Role.owner, Role.admin})
Member = Annotated[Principal, Depends(_enterprise)]


async def _enterprise_admin(principal: Member) -> Principal:
    """Plugin management: an enterprise organization, and the admin or owner role in it."""
    return await _admin_role(principal)


Admin = Annotated[Principal, Depends(_enterprise_admin)]
PluginOps = [Depends(rate_limit("plugin_ops"))]


async def _service(request: Request) -> PluginService:
    # async: FastAPI runs a plain def dependency in its thread pool, a thread hop per request.
    service: PluginService = request.app.state.plugin_service
    return service


Service = Annotated[PluginService, Depends(_service)]
# Declared after the auth dependencies in a route's signature, so it runs after them: nobody
# unauthorized gets a body spooled. Its file goes as soon as the route function returns.
PackageForm = Annotated[InstallForm, Depends(install_form, scope="function")]


@router.get("", response_model=Page[PluginOut])
async def list_plugins(
    principal: Member,
    service: Service,
    params: Annotated[PluginListParams, Query()],
) -> Page[PluginOut]:
    """Installed plugins of the caller's organization, filtered by ``status``, ``type``,
    ``category`` and ``q`` (id, name or description, case-insensitive)."""
    items, total = await service.list_plugins(
        principal.org_id, status=params.status, type_=params.type, category=params.category,
        q=params.q, page=params.page, limit=params.limit,
    )
    return Page.of(items, total, params)


@router.post("/install", response_model=InstallResult, status_code=201, dependencies=PluginOps,
             responses=problem_responses(409, 413, 415),
             openapi_extra={"requestBody": OPENAPI_REQUEST_BODY})
async def install_plugin(principal: Admin, service: Service, form: PackageForm) -> InstallResult:
    """Install or upgrade a plugin from an uploaded .ppx."""
    return await service.install_plugin(principal.org_id, form.package, actor=principal.user_id,
                                        grant_permissions=form.grant_permissions,
                                        config=form.config)


@router.websocket("/events/ws")
async def events_ws(websocket: WebSocket) -> None:
    """Live plugin events of the caller's organization (close codes: ``plugins/events_ws.py``)."""
    await stream_plugin_events(websocket)


@audit_refusals_only
async def execute_hook(
    hook_name: str, body: HookCallIn, principal: Member, service: Service
) -> dict[str, Any]:
    """Run a hook on the organization's loaded plugins (SPEC §4)."""
    require_wire_values(body.data, "data")
    # Failures count toward the circuit breaker only for callers who may unload the plugin
    # anyway: a member must not disable it by sending data that makes it fail.
    result = await service.execute_hook(
        principal.org_id, hook_name, body.data, body.options,
        count_failures=principal.role in _UNLOADERS,
    )
    return result.to_wire()


_hooks_limit = rate_limit("hooks")
# Documented (and testable through FastAPI's own handler) exactly as declared here; requests are
# handled by one flat function doing the same steps in the same order (plugins/hook_route.py).
router.add_api_route(
    "/hooks/{hook_name}", execute_hook, methods=["POST"],
    dependencies=[Depends(_hooks_limit)],
    response_model=HookResultOut, response_model_exclude_none=True,
    route_class_override=hook_route(limit=_hooks_limit, guard=_enterprise),
)


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
    """Grant permissions an upgrade asked for (or ones withheld at install), or revoke granted
    ones; a loaded plugin gets the change at once."""
    return await service.grant_permissions(
        principal.org_id, plugin_id, body.grant_permissions, actor=principal.user_id,
        revoke=body.revoke_permissions,
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
    params: Annotated[EventListParams, Query()],
) -> Page[EventOut]:
    items, total = await service.list_plugin_events(
        principal.org_id, plugin_id, page=params.page, limit=params.limit,
        event_type=params.type,
    )
    return Page.of(items, total, params)


@router.delete("/{plugin_id}", status_code=204, dependencies=PluginOps,
               responses=problem_responses(409))
async def uninstall_plugin(plugin_id: str, principal: Admin, service: Service) -> None:
    await service.uninstall_plugin(principal.org_id, plugin_id, actor=principal.user_id)
