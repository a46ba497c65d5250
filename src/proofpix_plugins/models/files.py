"""Photos uploaded through the host pipeline, what plugins made of them, and stored blobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proofpix_plugins.models.base import (
    Base,
    JSONType,
    bigint_pk,
    created_at,
    organization_fk,
    str_enum,
    updated_at,
    uuid_pk,
)


class FileStatus(StrEnum):
    """Where a photo's plugin pipeline stands."""

    #: The hooks are running (``processing_owner`` names the process running them).
    processing = "processing"
    #: Every hook ran and its results are recorded.
    complete = "complete"
    #: The pipeline was interrupted (the process running it died, or it failed): the results
    #: are missing or partial; ``POST /api/files/{id}/reprocess`` runs it again.
    incomplete = "incomplete"


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        Index(None, "organization_id", "created_at"),
        # The start-up sweep looks for pipelines left running.
        Index(None, "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    processed_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    exif: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[FileStatus] = mapped_column(
        str_enum(FileStatus, "file_status"),
        default=FileStatus.processing,
        server_default=FileStatus.complete.value,
    )
    #: ``<host>/<pid>-<start time>-<n>`` of the process running the pipeline, while it runs.
    processing_owner: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at()

    results: Mapped[list[FilePluginResult]] = relationship(
        back_populates="file", lazy="raise", passive_deletes=True
    )


class FilePluginResult(Base):
    """What one plugin's handler returned (or how it failed) for one file and hook."""

    __tablename__ = "file_plugin_results"

    id: Mapped[int] = bigint_pk()
    file_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("files.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    hook_name: Mapped[str] = mapped_column(String(100))
    plugin_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32))
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()

    file: Mapped[File] = relationship(back_populates="results", lazy="raise")


class FilePluginMetadata(Base):
    """What one plugin wrote about one file through ``metadata.set`` (its own namespace).

    A row per (file, plugin), not one JSON document per file: plugins running in parallel
    write different rows, so none can lose another's write, and the stored size per plugin is
    a column the quota reads.
    """

    __tablename__ = "file_plugin_metadata"

    file_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    plugin_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organization_id: Mapped[uuid.UUID] = organization_fk()
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: JSON-encoded size of ``values``, checked against the per-plugin cap on every write.
    size_bytes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = updated_at()


class Blob(Base):
    """A content-addressed object in the blob store.

    Whether a blob is still referenced is a query over the tables naming a sha256 (plugins,
    files), so garbage collection needs no refcount to drift.
    """

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()
