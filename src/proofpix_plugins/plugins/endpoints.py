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
from proofpix_plugins.kit.routes import PatternRoute
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
    HookName,
    InstallResult,
    MetricsOut,
    PluginDetail,
    PluginId,
    PluginListParams,
    PluginOut,
)
from proofpix_plugins.plugins.service import PluginService

# Problem statuses are derived per route from its guards, parameters and body (kit/openapi.py);
# PatternRoute routes by the plugin id and hook name patterns (kit/routes.py).
router = APIRouter(
    prefix="/api/plugins", tags=["plugins"], route_class=PatternRoute,
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
    """List the organization's installed plugins

    One page of the plugins installed in the caller's organization, filtered by `status`,
    `type`, `category` and `q` (a case-insensitive substring of the id, name or description).

    Who: any member of an organization on the `enterprise` plan (403 otherwise).
    """
    items, total = await service.list_plugins(
        principal.org_id, status=params.status, type_=params.type, category=params.category,
        q=params.q, page=params.page, limit=params.limit,
    )
    return Page.of(items, total, params)


@router.post("/install", response_model=InstallResult, status_code=201, dependencies=PluginOps,
             responses=problem_responses(404, 409, 413, 415, 507),
             openapi_extra={"requestBody": OPENAPI_REQUEST_BODY})
async def install_plugin(principal: Admin, service: Service, form: PackageForm) -> InstallResult:
    """Install or upgrade a plugin from an uploaded .ppx or from the marketplace

    Streams the `.ppx` package (multipart part `file`, at most the upload limit), validates and
    scans it before anything is written, and installs it for the caller's organization; a
    package of an installed id with a higher version upgrades it. The optional `metadata` part
    (JSON) chooses which requested permissions to grant. A plugin whose required configuration
    is missing installs as `needs_configuration`.

    A JSON body `{"source": "marketplace", "pluginId", "version"?, "grantPermissions"?,
    "config"?}` installs a published marketplace version instead (the newest visible one when
    `version` is omitted; a yanked one only by its exact version): its artifact's sha256 and
    the marketplace signature are verified before anything is written, then the same pipeline
    runs. An upgrade that asks for more waits for consent (`pendingConsent`).

    Who: an `admin` or `owner` of an `enterprise` organization. Notable errors: 415 when `file`
    is not a zip package, 413 over the size limit, 422 with the scanner's or manifest's rule
    ids (or `artifact-unverified` when a marketplace artifact fails verification), 404 for an
    unknown marketplace plugin or version, 409 when this version (or a newer one) is already
    installed, or the listing is suspended or the version in review.
    """
    result = await service.install_plugin(
        principal.org_id, form.package, actor=principal.user_id,
        grant_permissions=form.grant_permissions, config=form.config,
        expected_publisher=form.expected_publisher, expected_id=form.expected_id,
        expected_version=form.expected_version)
    if form.on_installed is not None:
        await form.on_installed()
    if form.notices:
        result.warnings.extend({"ruleId": "marketplace", "message": n} for n in form.notices)
    return result


@router.websocket("/events/ws")
async def events_ws(websocket: WebSocket) -> None:
    """Live plugin events of the caller's organization (close codes: ``plugins/events_ws.py``)."""
    await stream_plugin_events(websocket)


@audit_refusals_only
async def execute_hook(
    hook_name: HookName, body: HookCallIn, principal: Member, service: Service
) -> dict[str, Any]:
    """Call a hook on the organization's loaded plugins

    Runs the hook on every loaded plugin of the organization that registered it and holds its
    permissions, with `options` (mode, timeout, stopOnError); answers one result per plugin, in
    call order. A plugin's own failure is its result's `status`, not an HTTP error. Integers
    the worker protocol cannot carry are a 422 naming the field.

    Who: any member of an `enterprise` organization. A member's calls do not count toward the
    circuit breaker (only callers who may unload the plugin do).
    """
    require_wire_values(body.data, "data")
    # Failures count toward the circuit breaker only for callers who may unload the plugin
    # anyway: a member must not disable it by sending data that makes it fail.
    result = await service.execute_hook(
        principal.org_id, hook_name, body.data, body.options.to_options(),
        count_failures=principal.role in _UNLOADERS,
    )
    return result.to_wire()


_hooks_limit = rate_limit("hooks")
# The full template, as documented (app.py dispatches it straight: kit/hot_route.py).
HOOK_ROUTE_PATH = "/api/plugins/hooks/{hook_name}"
# Documented (and testable through FastAPI's own handler) exactly as declared here; requests are
# handled by one flat function doing the same steps in the same order (plugins/hook_route.py).
router.add_api_route(
    "/hooks/{hook_name}", execute_hook, methods=["POST"],
    dependencies=[Depends(_hooks_limit)],
    response_model=HookResultOut, response_model_exclude_none=True,
    route_class_override=hook_route(limit=_hooks_limit, guard=_enterprise),
)


@router.get("/{plugin_id}", response_model=PluginDetail)
async def get_plugin(plugin_id: PluginId, principal: Member, service: Service) -> PluginDetail:
    """Read an installed plugin

    Its manifest facts, status, granted permissions and network hosts, hooks, resource limits
    and latest metrics.

    Who: any member of an `enterprise` organization; 404 when the organization has no plugin of
    this id.
    """
    return await service.get_plugin(principal.org_id, plugin_id)


@router.post("/{plugin_id}/load", response_model=PluginDetail, dependencies=PluginOps,
             responses=problem_responses(409))
async def load_plugin(plugin_id: PluginId, principal: Admin, service: Service) -> PluginDetail:
    """Load (activate) a plugin

    Starts the plugin's sandboxed worker; from then on its hooks run.

    Who: an `admin` or `owner` of an `enterprise` organization. 409 while its required
    configuration is incomplete (the missing keys are named) or permissions await consent.
    """
    return await service.load_plugin(principal.org_id, plugin_id, actor=principal.user_id)


@router.post("/{plugin_id}/unload", response_model=PluginDetail, dependencies=PluginOps,
             responses=problem_responses(409))
async def unload_plugin(plugin_id: PluginId, principal: Admin, service: Service) -> PluginDetail:
    """Unload (deactivate) a plugin

    Stops its worker; its hooks no longer run. Its configuration and storage are kept.

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    return await service.unload_plugin(principal.org_id, plugin_id, actor=principal.user_id)


@router.post("/{plugin_id}/permissions", response_model=PluginDetail, dependencies=PluginOps)
async def grant_permissions(
    plugin_id: PluginId, body: GrantRequest, principal: Admin, service: Service
) -> PluginDetail:
    """Grant or revoke a plugin's permissions

    Consents to permissions an upgrade asked for (or ones withheld at install), each one the
    installed version requests (422 otherwise), or takes granted ones back; a loaded plugin
    gets the change at once.

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    return await service.grant_permissions(
        principal.org_id, plugin_id, body.grant_permissions, actor=principal.user_id,
        revoke=body.revoke_permissions,
    )


@router.get("/{plugin_id}/config", response_model=ConfigOut)
async def get_config(plugin_id: PluginId, principal: Admin, service: Service) -> ConfigOut:
    """Read a plugin's configuration

    The values with the defaults of its `config_schema` filled in; secrets show as `***`.

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    return await service.get_plugin_config(principal.org_id, plugin_id)


@router.put("/{plugin_id}/config", response_model=ConfigOut, dependencies=PluginOps)
async def put_config(
    plugin_id: PluginId, body: ConfigIn, principal: Admin, service: Service
) -> ConfigOut:
    """Replace a plugin's configuration

    Validates the values against the plugin's `config_schema` (422 names each offending field)
    and stores them, secrets encrypted; a loaded plugin sees them on its next call.

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    return await service.update_plugin_config(
        principal.org_id, plugin_id, body.values, actor=principal.user_id
    )


@router.get("/{plugin_id}/metrics", response_model=MetricsOut)
async def get_metrics(
    plugin_id: PluginId,
    principal: Member,
    service: Service,
    minutes: Annotated[int, Query(ge=1, le=7 * 24 * 60, description=(
        "The window, in minutes back from now (at most a week)."))] = 60,
) -> dict[str, Any]:
    """Read a plugin's metrics

    Calls, errors, timeouts, denials, crashes, latency percentiles, CPU and memory over the
    last `minutes`, in total and per one-minute bucket.

    Who: any member of an `enterprise` organization.
    """
    return await service.get_plugin_metrics(principal.org_id, plugin_id, minutes=minutes)


@router.get("/{plugin_id}/events", response_model=Page[EventOut])
async def list_events(
    plugin_id: PluginId,
    principal: Admin,
    service: Service,
    params: Annotated[EventListParams, Query()],
) -> Page[EventOut]:
    """List a plugin's events

    Its lifecycle and security events (install, upgrade, load, unload, configuration changes,
    permission denials, circuit-breaker trips), newest first, one page at a time.

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    items, total = await service.list_plugin_events(
        principal.org_id, plugin_id, page=params.page, limit=params.limit,
        event_type=params.type,
    )
    return Page.of(items, total, params)


@router.delete("/{plugin_id}", status_code=204, dependencies=PluginOps,
               responses=problem_responses(409))
async def uninstall_plugin(plugin_id: PluginId, principal: Admin, service: Service) -> None:
    """Uninstall a plugin

    Unloads it and removes it with its configuration and storage; its events are kept.

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    await service.uninstall_plugin(principal.org_id, plugin_id, actor=principal.user_id)
