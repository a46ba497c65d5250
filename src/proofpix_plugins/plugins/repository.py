"""Every query of the installed-plugin domain; always scoped by organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from proofpix_plugins.kit.upsert import insert_for
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.plugin_state import CLOCK_ID, PluginStateChange, PluginStateClock
from proofpix_plugins.models.plugins import (
    Plugin,
    PluginConfiguration,
    PluginDependency,
    PluginEvent,
    PluginHook,
    PluginMetric,
    PluginPermission,
    PluginStatus,
    PluginStorage,
)

#: Generations of the state change log kept; a process further behind reconciles everything.
STATE_LOG_KEEP = 10_000

def _with_children(stmt: Select[Plugin], *, configuration: bool = True) -> Select[Plugin]:
    stmt = stmt.options(
        selectinload(Plugin.permissions),
        selectinload(Plugin.hooks),
        selectinload(Plugin.dependencies),
    )
    return stmt.options(selectinload(Plugin.configuration)) if configuration else stmt


_SUMMARY_COLUMNS = (
    Plugin.plugin_id, Plugin.name, Plugin.version, Plugin.type, Plugin.category,
    Plugin.description, Plugin.status, Plugin.status_reason, Plugin.installed_at,
    Plugin.updated_at, Plugin.loaded_at, Plugin.artifact_sha256,
)


@dataclass(frozen=True)
class MetricRow:
    """A minute row after an upsert: what the histogram merge needs."""

    id: int
    latency_hist: list[Any]
    total_ms: float


class PluginRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, org_id: uuid.UUID, plugin_id: str, *, children: bool = True, lock: bool = False,
        configuration: bool = True,
    ) -> Plugin | None:
        """The plugin; ``children``: with its permissions, hooks, dependencies and (unless
        ``configuration`` is False) configuration loaded (one query each)."""
        stmt = select(Plugin).where(
            Plugin.organization_id == org_id, Plugin.plugin_id == plugin_id
        )
        if children:
            stmt = _with_children(stmt, configuration=configuration)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def search(
        self,
        org_id: uuid.UUID,
        *,
        status: str | None = None,
        type_: str | None = None,
        category: str | None = None,
        q: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> tuple[Sequence[Row[Any]], int]:
        """One page of plugin summaries (the columns of ``_SUMMARY_COLUMNS``) and the total."""
        where: list[Any] = [Plugin.organization_id == org_id]
        if status:
            where.append(Plugin.status == status)
        if type_:
            where.append(Plugin.type == type_)
        if category:
            where.append(Plugin.category == category)
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                or_(
                    Plugin.name.ilike(pattern, escape="\\"),
                    Plugin.plugin_id.ilike(pattern, escape="\\"),
                    Plugin.description.ilike(pattern, escape="\\"),
                )
            )
        # The list shows no child rows (permissions, hooks, config): select the summary columns
        # only. (A window count in the same statement costs SQLite a temporary sort, three
        # times the two statements' time.)
        rows = (
            await self.session.execute(
                select(*_SUMMARY_COLUMNS)
                .where(*where)
                .order_by(Plugin.name, Plugin.plugin_id)
                .offset((page - 1) * limit)
                .limit(limit)
            )
        ).all()
        if page == 1 and len(rows) < limit:
            return cast("list[Row[Any]]", rows), len(rows)  # the whole list: no count needed
        total = (
            await self.session.execute(select(func.count()).select_from(Plugin).where(*where))
        ).scalar_one()
        return cast("list[Row[Any]]", rows), int(total)

    async def list_by_status(self, statuses: Sequence[PluginStatus]) -> Sequence[Plugin]:
        """All organizations' plugins in these states (start-up reload)."""
        stmt = _with_children(select(Plugin).where(Plugin.status.in_(statuses)))
        return (await self.session.execute(stmt)).scalars().all()

    async def installed_versions(self, org_id: uuid.UUID) -> dict[str, str]:
        rows = await self.session.execute(
            select(Plugin.plugin_id, Plugin.version).where(Plugin.organization_id == org_id)
        )
        return {pid: ver for pid, ver in rows.all()}

    async def dependents_of(self, org_id: uuid.UUID, plugin_id: str) -> list[str]:
        rows = await self.session.execute(
            select(Plugin.plugin_id)
            .join(PluginDependency, PluginDependency.plugin_row_id == Plugin.id)
            .where(PluginDependency.organization_id == org_id)
            .where(PluginDependency.depends_on == plugin_id)
        )
        return sorted(rows.scalars().all())

    async def all_install_paths(self) -> set[str]:
        rows = await self.session.execute(select(Plugin.install_path))
        return set(rows.scalars().all())

    async def all_tree_keys(self) -> set[tuple[str, str, str, str]]:
        """(org, plugin id, version, artifact sha256) of every row: the trees a machine may
        have fetched (``trees.py``)."""
        rows = await self.session.execute(select(
            Plugin.organization_id, Plugin.plugin_id, Plugin.version, Plugin.artifact_sha256))
        return {(str(org), pid, version, sha) for org, pid, version, sha in rows.all()}

    async def configuration_of(self, plugin_row_id: uuid.UUID) -> PluginConfiguration | None:
        stmt = select(PluginConfiguration).where(
            PluginConfiguration.plugin_row_id == plugin_row_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def path_in_use(self, install_path: str) -> bool:
        stmt = select(func.count()).select_from(Plugin).where(Plugin.install_path == install_path)
        return int((await self.session.execute(stmt)).scalar_one()) > 0

    def add(self, row: Any) -> None:
        self.session.add(row)

    async def delete_children(self, plugin_row_id: uuid.UUID) -> None:
        for model in (PluginPermission, PluginHook, PluginDependency):
            await self.session.execute(delete(model).where(model.plugin_row_id == plugin_row_id))

    async def delete_plugin(self, row: Plugin) -> None:
        await self.delete_children(row.id)
        await self.session.execute(
            delete(PluginConfiguration).where(PluginConfiguration.plugin_row_id == row.id)
        )
        await self.session.execute(
            delete(PluginMetric).where(PluginMetric.plugin_row_id == row.id)
        )
        await self.session.execute(
            delete(PluginStorage).where(
                PluginStorage.organization_id == row.organization_id,
                PluginStorage.plugin_id == row.plugin_id,
            )
        )
        await self.session.delete(row)

    # events ---------------------------------------------------------------------
    async def list_events(
        self, org_id: uuid.UUID, plugin_id: str, *, page: int, limit: int,
        event_type: str | None = None,
    ) -> tuple[Sequence[PluginEvent], int]:
        where: list[Any] = [
            PluginEvent.organization_id == org_id,
            PluginEvent.plugin_id == plugin_id,
        ]
        if event_type:
            where.append(PluginEvent.event_type == event_type)
        total = (
            await self.session.execute(select(func.count()).select_from(PluginEvent).where(*where))
        ).scalar_one()
        rows = (
            (
                await self.session.execute(
                    select(PluginEvent)
                    .where(*where)
                    .order_by(PluginEvent.created_at.desc(), PluginEvent.id.desc())
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        return rows, int(total)

    # metrics --------------------------------------------------------------------
    async def metric_rows(
        self, plugin_row_id: uuid.UUID, since: datetime
    ) -> Sequence[PluginMetric]:
        stmt = (
            select(PluginMetric)
            .where(PluginMetric.plugin_row_id == plugin_row_id)
            .where(PluginMetric.bucket_start >= since)
            .order_by(PluginMetric.bucket_start)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def add_to_metric_row(
        self, plugin_row_id: uuid.UUID, org_id: uuid.UUID, bucket_start: datetime,
        **added: int | float,
    ) -> MetricRow:
        """Add the counters to the minute row (created at zero), atomically; the row stays
        locked until the transaction ends. ``max_rss_kb`` is kept as a maximum."""
        table = PluginMetric.__table__
        insert = insert_for(self.session, table)
        is_pg = self.session.get_bind().dialect.name == "postgresql"
        # Two-argument max(): GREATEST on PostgreSQL, the scalar max() on SQLite.
        larger = func.greatest if is_pg else func.max
        set_: dict[str, Any] = {
            name: (larger(table.c[name], insert.excluded[name]) if name == "max_rss_kb"
                   else table.c[name] + insert.excluded[name])
            for name in added
        }
        stmt = (
            insert.values(plugin_row_id=plugin_row_id, organization_id=org_id,
                          bucket_start=bucket_start, latency_hist=[], **added)
            .on_conflict_do_update(index_elements=["plugin_row_id", "bucket_start"], set_=set_)
            .returning(table.c.id, table.c.latency_hist, table.c.total_ms)
        )
        row = (await self.session.execute(stmt)).one()
        return MetricRow(id=row.id, latency_hist=row.latency_hist, total_ms=row.total_ms)

    async def set_metric_histogram(self, metric_id: int, latency_hist: list[list[int]]) -> None:
        await self.session.execute(
            update(PluginMetric).where(PluginMetric.id == metric_id)
            .values(latency_hist=latency_hist)
            .execution_options(synchronize_session=False)
        )

    async def row_id(self, org_id: uuid.UUID, plugin_id: str) -> uuid.UUID | None:
        stmt = select(Plugin.id).where(
            Plugin.organization_id == org_id, Plugin.plugin_id == plugin_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # storage --------------------------------------------------------------------
    async def storage_get(
        self, org_id: uuid.UUID, plugin_id: str, key: str
    ) -> PluginStorage | None:
        stmt = select(PluginStorage).where(
            PluginStorage.organization_id == org_id,
            PluginStorage.plugin_id == plugin_id,
            PluginStorage.key == key,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def storage_usage(self, org_id: uuid.UUID, plugin_id: str) -> tuple[int, int]:
        stmt = select(func.count(), func.coalesce(func.sum(PluginStorage.size_bytes), 0)).where(
            PluginStorage.organization_id == org_id, PluginStorage.plugin_id == plugin_id
        )
        keys, size = (await self.session.execute(stmt)).one()
        return int(keys), int(size)

    async def storage_keys(self, org_id: uuid.UUID, plugin_id: str) -> list[str]:
        stmt = (
            select(PluginStorage.key)
            .where(PluginStorage.organization_id == org_id, PluginStorage.plugin_id == plugin_id)
            .order_by(PluginStorage.key)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def storage_delete(self, org_id: uuid.UUID, plugin_id: str, key: str) -> None:
        await self.session.execute(
            delete(PluginStorage).where(
                PluginStorage.organization_id == org_id,
                PluginStorage.plugin_id == plugin_id,
                PluginStorage.key == key,
            )
        )

    # -- the plugin state clock (models/plugin_state.py, plugins/convergence.py) ---------------

    async def state_generation(self) -> int:
        """The newest committed desired-state generation (one primary-key read)."""
        stmt = select(PluginStateClock.generation).where(PluginStateClock.id == CLOCK_ID)
        return int(await self.session.scalar(stmt) or 0)

    async def record_state_change(self, keys: Iterable[tuple[uuid.UUID, str]]) -> int:
        """Bump the clock and log ``keys`` under the new generation, which it returns.

        Call it last in the transaction: the clock row stays locked until the commit, which is
        what makes generations commit in order, without gaps.
        """
        stmt = (update(PluginStateClock).where(PluginStateClock.id == CLOCK_ID)
                .values(generation=PluginStateClock.generation + 1)
                .returning(PluginStateClock.generation))
        generation = (await self.session.execute(stmt)).scalar_one_or_none()
        if generation is None:
            # The seed row is gone (tables emptied by hand): put it back past every logged
            # change, so that no generation is handed out twice.
            newest = select(func.coalesce(func.max(PluginStateChange.generation), 0))
            await self.session.execute(insert_for(self.session, PluginStateClock)
                                       .values(id=CLOCK_ID, generation=newest.scalar_subquery())
                                       .on_conflict_do_nothing())
            generation = (await self.session.execute(stmt)).scalar_one()
        now = utcnow()
        self.session.add_all([
            PluginStateChange(generation=generation, organization_id=org, plugin_id=plugin_id,
                              changed_at=now)
            for org, plugin_id in sorted(set(keys))
        ])
        if generation % 100 == 0:
            await self.session.execute(delete(PluginStateChange).where(
                PluginStateChange.generation <= generation - STATE_LOG_KEEP))
        return int(generation)

    async def state_changes(
        self, after: int, upto: int
    ) -> tuple[int | None, set[tuple[uuid.UUID, str]]]:
        """The plugins changed in generations ``after < g <= upto``, and the lowest such ``g``
        still logged (``None`` if none is): anything but ``after + 1`` means a pruned gap."""
        stmt = (select(PluginStateChange.generation, PluginStateChange.organization_id,
                       PluginStateChange.plugin_id)
                .where(PluginStateChange.generation > after,
                       PluginStateChange.generation <= upto))
        rows = (await self.session.execute(stmt)).all()
        first = min((int(g) for g, _, _ in rows), default=None)
        return first, {(org, plugin_id) for _, org, plugin_id in rows}

    async def loaded_keys(self) -> set[tuple[uuid.UUID, str]]:
        """Every organization's plugins whose desired status is ``loaded``."""
        stmt = select(Plugin.organization_id, Plugin.plugin_id).where(
            Plugin.status == PluginStatus.loaded)
        return {(org, plugin_id) for org, plugin_id in (await self.session.execute(stmt)).all()}
