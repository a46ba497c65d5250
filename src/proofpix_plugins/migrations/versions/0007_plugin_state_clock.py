"""The plugin state clock and change log: how every API process converges (issue #12).

``plugin_state_clock`` holds one row whose ``generation`` every desired-state change bumps in its
own transaction; ``plugin_state_changes`` says which plugins each generation changed
(``models/plugin_state.py``). The clock starts at 0.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    clock = op.create_table(
        "plugin_state_clock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_state_clock")),
    )
    op.create_table(
        "plugin_state_changes",
        sa.Column("generation", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("generation", "organization_id", "plugin_id",
                                name=op.f("pk_plugin_state_changes")),
    )
    op.bulk_insert(clock, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("plugin_state_changes")
    op.drop_table("plugin_state_clock")
