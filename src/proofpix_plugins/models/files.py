"""Photos uploaded through the host pipeline, what plugins made of them, and stored blobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proofpix_plugins.models.base import (
    Base,
    JSONType,
    bigint_pk,
    created_at,
    organization_fk,
    uuid_pk,
)


class File(Base):
    __tablename__ = "files"
    __table_args__ = (Index(None, "organization_id", "created_at"),)

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
    # "metadata" is reserved on declarative classes; the column keeps the plain name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
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


class Blob(Base):
    """A content-addressed object in the blob store.

    Whether a blob is still referenced is a query over the tables naming a sha256 (plugins,
    files), so garbage collection needs no refcount to drift.
    """

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()
