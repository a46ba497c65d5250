"""The brief's nine plugin tables, under their exact names.

Columns pointing at a ``plugins`` row are called ``plugin_row_id`` (a UUID foreign key), to keep
them apart from ``plugin_id``, which is always the manifest id such as ``acme.exif``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column, relationship

from proofpix_plugins.models.base import (
    Base,
    JSONType,
    UTCDateTime,
    bigint_pk,
    created_at,
    organization_fk,
    str_enum,
    updated_at,
    utcnow,
    uuid_pk,
)


class PluginStatus(StrEnum):
    """Where an installed plugin is in its lifecycle.

    ``installed`` until loaded; ``loaded`` runs its hooks; ``unloaded`` was stopped;
    ``disabled`` was stopped by the platform (e.g. its circuit breaker); ``error`` failed to
    load; ``needs_configuration`` waits for its required configuration.
    """

    installed = "installed"
    loaded = "loaded"
    unloaded = "unloaded"
    disabled = "disabled"
    error = "error"
    #: Installed, but its config_schema's required keys are not all set: cannot load yet.
    needs_configuration = "needs_configuration"


class PermissionKind(StrEnum):
    permission = "permission"
    network = "network"


def _plugin_fk() -> MappedColumn[uuid.UUID]:
    return mapped_column(Uuid(), ForeignKey("plugins.id", ondelete="CASCADE"), index=True)


class Plugin(Base):
    """A plugin installed in one organization."""

    __tablename__ = "plugins"
    __table_args__ = (
        UniqueConstraint("organization_id", "plugin_id"),
        Index(None, "organization_id", "status"),
        Index(None, "organization_id", "type"),
        Index(None, "organization_id", "category"),
        Index(None, "organization_id", "name"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    plugin_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[PluginStatus] = mapped_column(
        str_enum(PluginStatus, "plugin_status"), default=PluginStatus.installed
    )
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    install_path: Mapped[str] = mapped_column(String(1024))
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Permissions / network hosts an upgrade asks for that no admin has consented to yet;
    # while non-empty the plugin cannot be loaded.
    pending_consent: Mapped[list[str]] = mapped_column(default=list)
    installed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    installed_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    loaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    permissions: Mapped[list[PluginPermission]] = relationship(
        back_populates="plugin", lazy="raise", passive_deletes=True
    )
    hooks: Mapped[list[PluginHook]] = relationship(
        back_populates="plugin", lazy="raise", passive_deletes=True
    )
    configuration: Mapped[PluginConfiguration | None] = relationship(
        back_populates="plugin", lazy="raise", passive_deletes=True
    )
    dependencies: Mapped[list[PluginDependency]] = relationship(
        back_populates="plugin", lazy="raise", passive_deletes=True
    )


class PluginPermission(Base):
    """One permission or network host a plugin requested, and whether an admin granted it."""

    __tablename__ = "plugin_permissions"
    __table_args__ = (UniqueConstraint("plugin_row_id", "kind", "value"),)

    id: Mapped[int] = bigint_pk()
    plugin_row_id: Mapped[uuid.UUID] = _plugin_fk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    kind: Mapped[PermissionKind] = mapped_column(str_enum(PermissionKind, "permission_kind"))
    value: Mapped[str] = mapped_column(String(255))
    requested: Mapped[bool] = mapped_column(Boolean, default=True)
    granted: Mapped[bool] = mapped_column(Boolean, default=False)
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plugin: Mapped[Plugin] = relationship(back_populates="permissions", lazy="raise")


class PluginHook(Base):
    __tablename__ = "plugin_hooks"
    # The hook bus asks "which plugins of this org handle this hook".
    __table_args__ = (Index(None, "organization_id", "hook_name"),)

    id: Mapped[int] = bigint_pk()
    plugin_row_id: Mapped[uuid.UUID] = _plugin_fk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    hook_name: Mapped[str] = mapped_column(String(100))
    handler: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=100)

    plugin: Mapped[Plugin] = relationship(back_populates="hooks", lazy="raise")


class PluginConfiguration(Base):
    """A plugin's configuration; ``x-secret`` values are stored as ciphertext strings."""

    __tablename__ = "plugin_configurations"
    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)

    id: Mapped[int] = bigint_pk()
    plugin_row_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("plugins.id", ondelete="CASCADE"), unique=True
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = updated_at()

    plugin: Mapped[Plugin] = relationship(back_populates="configuration", lazy="raise")


class PluginMetric(Base):
    """Counters for one plugin over one minute, flushed in batches by the metrics aggregator."""

    __tablename__ = "plugin_metrics"
    __table_args__ = (UniqueConstraint("plugin_row_id", "bucket_start"),)

    id: Mapped[int] = bigint_pk()
    # Covered by the (plugin_row_id, bucket_start) unique index: no separate index.
    plugin_row_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("plugins.id", ondelete="CASCADE")
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime())
    calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    timeouts: Mapped[int] = mapped_column(Integer, default=0)
    denied: Mapped[int] = mapped_column(Integer, default=0)
    crashed: Mapped[int] = mapped_column(Integer, default=0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # Counts per latency bucket; bucket bounds are defined by the metrics module.
    latency_hist: Mapped[list[Any]] = mapped_column(default=list)
    cpu_ms: Mapped[float] = mapped_column(Float, default=0.0)
    max_rss_kb: Mapped[int] = mapped_column(BigInteger, default=0)
    http_calls: Mapped[int] = mapped_column(Integer, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class PluginEvent(Base):
    """A lifecycle or security event; kept after the plugin is uninstalled."""

    __tablename__ = "plugin_events"
    __table_args__ = (
        Index(None, "organization_id", "plugin_id", "created_at"),
        # The events list filtered by type (SPEC §7). Without created_at: the convention's name
        # would pass PostgreSQL's 63 characters, and one plugin's events of one type sort fast.
        Index(None, "organization_id", "plugin_id", "event_type"),
    )

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    plugin_row_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("plugins.id", ondelete="SET NULL"), index=True
    )
    plugin_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class PluginDependency(Base):
    __tablename__ = "plugin_dependencies"
    __table_args__ = (UniqueConstraint("plugin_row_id", "depends_on"),)

    id: Mapped[int] = bigint_pk()
    plugin_row_id: Mapped[uuid.UUID] = _plugin_fk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    depends_on: Mapped[str] = mapped_column(String(100), index=True)
    specifier: Mapped[str] = mapped_column(String(100), default="")

    plugin: Mapped[Plugin] = relationship(back_populates="dependencies", lazy="raise")


class PluginMarketplaceCache(Base):
    """Cached marketplace answers (listing, search) keyed by a caller-chosen string."""

    __tablename__ = "plugin_marketplace_cache"

    id: Mapped[int] = bigint_pk()
    key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PluginStorage(Base):
    """The key-value store the ``storage`` capability gives a plugin, per organization."""

    __tablename__ = "plugin_storage"
    __table_args__ = (
        UniqueConstraint("organization_id", "plugin_id", "key"),
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
    )

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    plugin_id: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = updated_at()
