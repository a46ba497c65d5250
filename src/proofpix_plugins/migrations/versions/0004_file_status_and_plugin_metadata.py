"""Files get a pipeline status; plugins' metadata moves to a row per (file, plugin).

- ``files.status`` (``processing`` / ``complete`` / ``incomplete``) and ``processing_owner``: a
  photo whose pipeline was interrupted is marked instead of looking finished. Existing rows are
  ``complete`` (the server default): nothing recorded which of them were interrupted.
- ``file_plugin_metadata``: what ``metadata.set`` stores, one row per (file, plugin), replacing
  the ``files.metadata`` JSON document that parallel analyzers overwrote in turn (a lost
  update). The upgrade moves each file's ``plugins`` namespaces into rows; the downgrade folds
  them back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

_files = sa.table(
    "files",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("metadata", _JSON),
)
_rows = sa.table(
    "file_plugin_metadata",
    sa.column("file_id", sa.Uuid()),
    sa.column("plugin_id", sa.String()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("values", _JSON),
    sa.column("size_bytes", sa.Integer()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Written out: Alembic cannot add a column's CHECK on SQLite, while both engines accept it
    # inline in ADD COLUMN (the model's str_enum: VARCHAR(32) plus a named CHECK).
    op.execute(
        "ALTER TABLE files ADD COLUMN status VARCHAR(32) DEFAULT 'complete' NOT NULL "
        "CONSTRAINT ck_files_file_status "
        "CHECK (status IN ('processing', 'complete', 'incomplete'))"
    )
    op.add_column("files", sa.Column("processing_owner", sa.String(length=300), nullable=True))
    op.create_index(op.f("ix_files_status"), "files", ["status"], unique=False)
    op.create_table(
        "file_plugin_metadata",
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("values", _JSON, nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"],
            name=op.f("fk_file_plugin_metadata_file_id_files"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_file_plugin_metadata_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", "plugin_id", name=op.f("pk_file_plugin_metadata")),
    )
    op.create_index(op.f("ix_file_plugin_metadata_organization_id"), "file_plugin_metadata",
                    ["organization_id"], unique=False)
    bind = op.get_bind()
    now = datetime.now(UTC)
    for file_id, org_id, meta in bind.execute(sa.select(_files.c.id, _files.c.organization_id,
                                                        _files.c.metadata)).all():
        plugins = (meta or {}).get("plugins") or {}
        for plugin_id, values in plugins.items():
            bind.execute(sa.insert(_rows).values(
                file_id=file_id, plugin_id=plugin_id, organization_id=org_id, values=values,
                size_bytes=len(orjson.dumps(values)), updated_at=now,
            ))
    # Native on both engines (SQLite >= 3.35): no table rebuild, so no cascade on files' rows.
    op.execute("ALTER TABLE files DROP COLUMN metadata")


def downgrade() -> None:
    bind = op.get_bind()
    folded: dict[object, dict[str, object]] = {}
    for file_id, plugin_id, values in bind.execute(
        sa.select(_rows.c.file_id, _rows.c.plugin_id, _rows.c["values"])
    ).all():
        folded.setdefault(file_id, {})[plugin_id] = values
    op.drop_index(op.f("ix_file_plugin_metadata_organization_id"),
                  table_name="file_plugin_metadata")
    op.drop_table("file_plugin_metadata")
    op.drop_index(op.f("ix_files_status"), table_name="files")
    metadata = sa.Column("metadata", _JSON, server_default="{}", nullable=False)
    if bind.dialect.name == "sqlite":
        # SQLite appends an added column; 0002's files table has ``metadata`` before
        # ``created_at``, so the table is rebuilt in that shape. Dropping the old table cascades
        # (foreign keys are on) to the files' plugin results: they are kept aside and restored.
        op.execute("CREATE TEMP TABLE _kept_results AS SELECT * FROM file_plugin_results")
        with op.batch_alter_table("files", recreate="always") as batch:
            batch.drop_constraint(op.f("ck_files_file_status"), type_="check")
            batch.drop_column("processing_owner")
            batch.drop_column("status")
            batch.add_column(metadata, insert_before="created_at")
        op.execute("DELETE FROM file_plugin_results")
        op.execute("INSERT INTO file_plugin_results SELECT * FROM _kept_results")
        op.execute("DROP TABLE _kept_results")
    else:
        op.drop_column("files", "processing_owner")
        op.drop_column("files", "status")
        op.add_column("files", metadata)
    for file_id, plugins in folded.items():
        bind.execute(sa.update(_files).where(_files.c.id == file_id)
                     .values(metadata={"plugins": plugins}))
