"""Signed proofs of photos (``POST /api/files/{id}/proofs``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from proofpix_plugins.models.base import Base, created_at, organization_fk, uuid_pk


class FileProof(Base):
    """One signed proof: the signed document, its signature and the key that made it.

    The document is stored as the exact bytes that were signed, so a proof read back verifies
    without the server's help. Removed with its file.
    """

    __tablename__ = "file_proofs"
    __table_args__ = (Index(None, "file_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    file_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("files.id", ondelete="CASCADE"), nullable=False
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    #: The canonical JSON that was signed, byte for byte (text, not JSON/JSONB: PostgreSQL's
    #: JSONB would reorder keys and re-render numbers).
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
