"""Signed photo proofs: ``file_proofs`` (issue 15).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_proofs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"],
                                name=op.f("fk_file_proofs_file_id_files"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_file_proofs_organization_id_organizations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_file_proofs_created_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_proofs")),
    )
    op.create_index(op.f("ix_file_proofs_organization_id"), "file_proofs",
                    ["organization_id"], unique=False)
    op.create_index(op.f("ix_file_proofs_file_id_created_at"), "file_proofs",
                    ["file_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_file_proofs_file_id_created_at"), table_name="file_proofs")
    op.drop_index(op.f("ix_file_proofs_organization_id"), table_name="file_proofs")
    op.drop_table("file_proofs")
