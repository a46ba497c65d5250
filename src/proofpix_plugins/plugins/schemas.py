"""Wire shapes of the plugin API (camelCase), built from rows and runtime state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import Path
from pydantic import ConfigDict, Field, StrictBool, StrictInt, model_validator

from proofpix_plugins.kit.pagination import PageParams
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.models.plugins import PermissionKind, Plugin, PluginStatus
from proofpix_plugins.packages.manifest import PLUGIN_ID_PATTERN, Category, PluginType
from proofpix_plugins.runtime.hooks.options import DEFAULT_OPTIONS, HookOptions
from proofpix_plugins.runtime.limits import HOOK_NAME_MAX_LENGTH, HOOK_NAME_PATTERN, TIMEOUT_MS_MAX

#: The plugin the document's examples name (the fuzz test seeds one with this id and hook).
EXAMPLE_PLUGIN_ID: Final = "acme.counter"
EXAMPLE_HOOK: Final = "custom:count"
_T0 = "2026-12-01T09:30:00Z"

#: A plugin id in a URL path: routing (kit.routes.PatternRoute) and the document use the pattern.
PluginId = Annotated[str, Path(
    pattern=f"^{PLUGIN_ID_PATTERN}$",
    description="The plugin's manifest id, `publisher.name` (each part 2-24 characters, "
    "`[a-z0-9]` then `[a-z0-9-]`).",
    examples=[EXAMPLE_PLUGIN_ID],
)]
#: A hook name in a URL path, ``scope:event`` (SPEC §4).
HookName = Annotated[str, Path(
    pattern=f"^{HOOK_NAME_PATTERN.pattern}$",
    max_length=HOOK_NAME_MAX_LENGTH,
    description="The hook, `scope:event` in lower case (`file:uploaded`, `export:before`, "
    "`acme:done`).",
    examples=[EXAMPLE_HOOK],
)]

_PLUGIN_EXAMPLE: dict[str, Any] = {
    "id": EXAMPLE_PLUGIN_ID, "name": "Upload counter", "version": "1.0.0", "type": "utility",
    "category": "workflow", "description": "Counts uploads per organization.",
    "status": "loaded", "statusReason": None, "installedAt": _T0, "updatedAt": _T0,
    "loadedAt": _T0,
    "artifactSha256": "9f2c5d1e0b7a4c3e8d6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
}
_DETAIL_EXAMPLE: dict[str, Any] = {
    **_PLUGIN_EXAMPLE,
    "permissions": [{"name": "storage", "requested": True, "granted": True}],
    "networkHosts": [],
    "hooks": [{"name": EXAMPLE_HOOK, "handler": "count", "priority": 0}],
    "dependencies": {},
    "resources": {"timeoutMs": 5000, "memoryMb": 128},
    "latestMetrics": None,
    "pendingConsent": [],
}


class PluginListParams(PageParams):
    """``GET /api/plugins`` query: a page and the SPEC §7 filters (each indexed per org)."""

    status: PluginStatus | None = Field(default=None, description="lifecycle status")
    type: PluginType | None = Field(default=None, description="manifest type")
    category: Category | None = Field(default=None, description="manifest category")
    q: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="case-insensitive substring of the id, name or description",
    )


class EventListParams(PageParams):
    """``GET /api/plugins/{id}/events`` query: a page and the event ``type``."""

    type: str | None = Field(default=None, min_length=1, max_length=64,
                             pattern=r"^[a-z][a-z0-9_]*$", description="event type, e.g. loaded")


class PermissionOut(CamelResponse):
    """A permission (or network host) the manifest requests, and whether it is granted."""

    name: str
    """The permission (`storage`, `files`, `http`, ...) or, for network hosts, the host."""
    requested: bool
    """Whether the installed version's manifest asks for it."""
    granted: bool
    """Whether the organization granted it; calls needing an ungranted one are denied."""


class HookOut(CamelResponse):
    """A hook the plugin registered."""

    name: str
    """The hook name, `scope:event`."""
    handler: str
    """The function of the plugin's entry module that handles it."""
    priority: int
    """Call order among the organization's plugins: higher first."""


class PluginOut(CamelResponse):
    """An installed plugin, as lists show it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PLUGIN_EXAMPLE]})

    id: str = Field(description="The manifest id, `publisher.name`, e.g. `proofpix.exif-reader`.")
    name: str
    """Display name from the manifest."""
    version: str
    """Installed version (semver)."""
    type: str
    """`processor`, `connector`, `analyzer` or `utility`."""
    category: str
    """Manifest category (`metadata`, `privacy`, `integration`, `image`, `workflow`, ...)."""
    description: str
    """What the plugin does, from its manifest."""
    status: str
    """Lifecycle state: `installed`, `needs_configuration`, `loaded`, `disabled`, ..."""
    status_reason: str | None = None
    """Why the plugin is in its state, when it was put there (e.g. the circuit breaker)."""
    installed_at: datetime
    """When this organization first installed the plugin."""
    updated_at: datetime
    """When the plugin's row last changed (upgrade, load, config)."""
    loaded_at: datetime | None = None
    """When it was last loaded; null while not loaded."""
    artifact_sha256: str
    """SHA-256 of the installed `.ppx` package."""


class PluginDetail(PluginOut):
    """An installed plugin with its permissions, hooks, resources and latest metrics."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DETAIL_EXAMPLE]})

    permissions: list[PermissionOut]
    """The permissions the manifest requests, each with its grant."""
    network_hosts: list[PermissionOut]
    """The hosts the `http` capability may reach, each with its grant."""
    hooks: list[HookOut]
    """The hooks the plugin registered, by priority."""
    dependencies: dict[str, str]
    """Other plugins it needs: plugin id to version specifier."""
    resources: dict[str, Any]
    """The resource limits its manifest declares (timeout, memory, ...)."""
    latest_metrics: dict[str, Any] | None = None
    """The latest metrics bucket (see `GET /api/plugins/{pluginId}/metrics`), if any."""
    pending_consent: list[str] = Field(default_factory=list)
    """Permissions an upgrade requested that nobody consented to yet (while listed, the
    plugin cannot load)."""


class InstallResult(CamelResponse):
    """The installed plugin, and what changed when the install was an upgrade."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "plugin": {**_DETAIL_EXAMPLE, "status": "installed", "loadedAt": None},
        "upgraded": False, "previousVersion": None, "permissionDiff": None, "warnings": [],
    }]})

    plugin: PluginDetail
    """The plugin as installed."""
    upgraded: bool = False
    """Whether an earlier version was replaced."""
    previous_version: str | None = None
    """The replaced version, on an upgrade."""
    permission_diff: dict[str, list[str]] | None = None
    """On an upgrade: permissions `added` and `removed` compared with the previous version."""
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    """Scanner findings that did not block the install (rule id, message, location)."""


class InstallMetadata(CamelModel):
    """The install's optional `metadata` part (JSON)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"grantPermissions": ["storage"]},
        {"grantPermissions": ["http"], "config": {"url": "https://hooks.example.com/in"}},
    ]})

    grant_permissions: list[str] | None = Field(default=None, max_length=64)
    """Permissions to grant (a subset of those requested); omitted grants every requested
    permission, as installing a browser extension does."""
    config: dict[str, Any] | None = None
    """Initial config, validated against the plugin's config_schema (secrets are sealed);
    missing required keys install the plugin as `needs_configuration`."""


class GrantRequest(CamelModel):
    """Consent to permissions the plugin requests, or taking granted ones back."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"grantPermissions": ["files"]}, {"revokePermissions": ["storage"]},
    ]})

    grant_permissions: list[str] = Field(default_factory=list, max_length=64)
    """Requested permissions to grant, or pending items such as `secret:<key>`."""
    revoke_permissions: list[str] = Field(default_factory=list, max_length=8)
    """Granted permissions to take back (`http` takes its network hosts along)."""

    @model_validator(mode="after")
    def _something(self) -> GrantRequest:
        if not self.grant_permissions and not self.revoke_permissions:
            raise ValueError("name at least one permission to grant or revoke")
        return self


class ConfigOut(CamelResponse):
    """A plugin's configuration, secrets redacted."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pluginId": EXAMPLE_PLUGIN_ID, "values": {"greeting": "hello", "token": "***"},
        "version": 2, "updatedAt": _T0,
    }]})

    plugin_id: str
    """The plugin's id."""
    values: dict[str, Any]
    """The values, with defaults from `config_schema` filled in; secrets (`x-secret`) show as
    `***`."""
    version: int
    """Increments on every change (0 before the first)."""
    updated_at: datetime | None = None
    """When the values last changed; null if never."""


class ConfigIn(CamelModel):
    """The new configuration, replacing the old one whole."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"values": {"greeting": "hello"}}]})

    values: dict[str, Any]
    """The values; validated against the plugin's `config_schema` (422 names each field)."""


class EventOut(CamelResponse):
    """One lifecycle or security event of a plugin."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "pluginId": EXAMPLE_PLUGIN_ID, "type": "loaded",
        "actorUserId": "0b6f6c1e-5d2a-4c1b-9a7e-3f2d1c0b9a8e", "details": {"version": "1.0.0"},
        "createdAt": _T0,
    }]})

    id: int
    """Event id, increasing in time."""
    plugin_id: str
    """The plugin's id."""
    type: str
    """What happened: `installed`, `upgraded`, `loaded`, `unloaded`, `config_updated`,
    `permission_denied`, `disabled`, `uninstalled`, ..."""
    actor_user_id: str | None
    """The user who caused it; null for the platform's own (the circuit breaker)."""
    details: dict[str, Any]
    """Facts particular to the event type."""
    created_at: datetime
    """When it happened."""


class HookOptionsIn(CamelModel):
    """How to run the hook (SPEC §4); every field optional."""

    timeout: StrictInt | None = Field(default=None, ge=1, le=TIMEOUT_MS_MAX)
    """Milliseconds each plugin may take; default its manifest's timeout."""
    mode: Literal["parallel", "sequential", "waterfall"] = "parallel"
    """`parallel`: all at once; `sequential`: by priority; `waterfall`: by priority, each
    `ok` result is the next plugin's input."""
    stop_on_error: StrictBool = False
    """In `sequential` and `waterfall` mode, stop at the first result that is not `ok`."""

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_options(self) -> HookOptions:
        """The runtime's options, as ``HookOptions.from_wire(self.to_wire())`` gives them."""
        if self.timeout is None and self.mode == "parallel" and not self.stop_on_error:
            return DEFAULT_OPTIONS
        return HookOptions(timeout_ms=self.timeout, mode=self.mode,
                           stop_on_error=self.stop_on_error)


class HookCallIn(CamelModel):
    """A hook call: its event data and options."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"data": {"fileId": "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"},
         "options": {"mode": "sequential", "timeout": 2000, "stopOnError": True}},
    ]})

    data: Any = Field(default_factory=dict)
    """The event passed to each plugin's handler: any JSON value (an object by default)."""
    options: HookOptionsIn = Field(default_factory=HookOptionsIn)
    """How to run the hook."""


def _perms(row: Plugin, kind: PermissionKind) -> list[PermissionOut]:
    return sorted(
        (
            PermissionOut(name=p.value, requested=p.requested, granted=p.granted)
            for p in row.permissions
            if p.kind == kind
        ),
        key=lambda p: p.name,
    )


def plugin_out(row: Plugin | Any) -> PluginOut:
    """From a ``Plugin`` row or any row carrying its summary columns (the list's query)."""
    return PluginOut(
        id=row.plugin_id,
        name=row.name,
        version=row.version,
        type=row.type,
        category=row.category,
        description=row.description,
        status=row.status.value,
        status_reason=row.status_reason,
        installed_at=row.installed_at,
        updated_at=row.updated_at,
        loaded_at=row.loaded_at,
        artifact_sha256=row.artifact_sha256,
    )


def plugin_detail(row: Plugin, latest_metrics: dict[str, Any] | None = None) -> PluginDetail:
    perms = _perms(row, PermissionKind.permission)
    hosts = _perms(row, PermissionKind.network)
    return PluginDetail(
        **plugin_out(row).model_dump(),
        permissions=perms,
        network_hosts=hosts,
        hooks=sorted(
            (HookOut(name=h.hook_name, handler=h.handler, priority=h.priority) for h in row.hooks),
            key=lambda h: (-h.priority, h.name),
        ),
        dependencies={d.depends_on: d.specifier for d in row.dependencies},
        resources=dict(row.manifest.get("resources") or {}),
        latest_metrics=latest_metrics,
        pending_consent=list(row.pending_consent or []),
    )


class LatencyOut(CamelResponse):
    """Call latency in milliseconds; null without calls."""

    p50: float | None = None
    """Median."""
    p95: float | None = None
    """95th percentile."""
    p99: float | None = None
    """99th percentile."""
    mean: float | None = None
    """Arithmetic mean."""


class MetricsBucketOut(CamelResponse):
    """The plugin's calls in one time bucket (or, at the top level, in the whole window)."""

    bucket_start: datetime | None = None
    """Start of the bucket; null for the window's totals."""
    calls: int
    """Hook calls."""
    errors: int
    """Calls that raised or returned an error."""
    timeouts: int
    """Calls stopped at their timeout."""
    denied: int
    """Calls refused for a missing permission."""
    crashed: int
    """Calls whose worker died."""
    latency_ms: LatencyOut
    """Latency percentiles."""
    cpu_ms: float
    """CPU time used, milliseconds."""
    max_rss_kb: int
    """Peak resident memory of the plugin's worker, KiB."""
    http_calls: int
    """Requests made through the `http` capability."""
    storage_bytes: int
    """Bytes the plugin keeps in its storage."""


class MetricsOut(MetricsBucketOut):
    """The plugin's metrics over the last `minutes`, in total and per bucket."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pluginId": EXAMPLE_PLUGIN_ID, "windowMinutes": 60, "bucketStart": None,
        "calls": 12, "errors": 1, "timeouts": 0, "denied": 0, "crashed": 0,
        "latencyMs": {"p50": 3.1, "p95": 8.4, "p99": 9.9, "mean": 3.8},
        "cpuMs": 41.5, "maxRssKb": 30512, "httpCalls": 0, "storageBytes": 64, "buckets": [],
    }]})

    plugin_id: str
    """The plugin's id."""
    window_minutes: int
    """The window asked for."""
    buckets: list[MetricsBucketOut]
    """Per-minute buckets that saw calls, oldest first."""
