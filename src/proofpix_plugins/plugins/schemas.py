"""Wire shapes of the plugin API (camelCase), built from rows and runtime state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from proofpix_plugins.kit.pagination import PageParams
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.models.plugins import PermissionKind, Plugin, PluginStatus
from proofpix_plugins.packages.manifest import Category, PluginType


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
    name: str
    requested: bool
    granted: bool


class HookOut(CamelResponse):
    name: str
    handler: str
    priority: int


class PluginOut(CamelResponse):
    id: str = Field(description="the manifest id, e.g. acme.exif-reader")
    name: str
    version: str
    type: str
    category: str
    description: str
    status: str
    status_reason: str | None = None
    installed_at: datetime
    updated_at: datetime
    loaded_at: datetime | None = None
    artifact_sha256: str


class PluginDetail(PluginOut):
    permissions: list[PermissionOut]
    network_hosts: list[PermissionOut]
    hooks: list[HookOut]
    dependencies: dict[str, str]
    resources: dict[str, Any]
    latest_metrics: dict[str, Any] | None = None
    pending_consent: list[str] = Field(default_factory=list)


class InstallResult(CamelResponse):
    plugin: PluginDetail
    upgraded: bool = False
    previous_version: str | None = None
    permission_diff: dict[str, list[str]] | None = None
    warnings: list[dict[str, Any]] = Field(default_factory=list)


class InstallMetadata(CamelModel):
    grant_permissions: list[str] | None = Field(
        default=None, max_length=64,
        description="permissions to grant; omitted grants every requested permission",
    )
    config: dict[str, Any] | None = Field(
        default=None,
        description="initial config, validated against config_schema (secrets are sealed); "
        "missing required keys install the plugin as needs_configuration",
    )


class GrantRequest(CamelModel):
    grant_permissions: list[str] = Field(
        default_factory=list, max_length=64,
        description="requested permissions, or pending items such as secret:<key>",
    )
    revoke_permissions: list[str] = Field(
        default_factory=list, max_length=8,
        description="granted permissions to take back (http takes its network hosts along)",
    )

    @model_validator(mode="after")
    def _something(self) -> GrantRequest:
        if not self.grant_permissions and not self.revoke_permissions:
            raise ValueError("name at least one permission to grant or revoke")
        return self


class ConfigOut(CamelResponse):
    plugin_id: str
    values: dict[str, Any]
    version: int
    updated_at: datetime | None = None


class ConfigIn(CamelModel):
    values: dict[str, Any]


class EventOut(CamelResponse):
    id: int
    plugin_id: str
    type: str
    actor_user_id: str | None
    details: dict[str, Any]
    created_at: datetime


class HookCallIn(CamelModel):
    data: Any = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


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
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None


class MetricsBucketOut(CamelResponse):
    bucket_start: datetime | None = None
    calls: int
    errors: int
    timeouts: int
    denied: int
    crashed: int
    latency_ms: LatencyOut
    cpu_ms: float
    max_rss_kb: int
    http_calls: int
    storage_bytes: int


class MetricsOut(MetricsBucketOut):
    plugin_id: str
    window_minutes: int
    buckets: list[MetricsBucketOut]
