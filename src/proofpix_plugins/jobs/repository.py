"""Every query on the ``jobs`` table: enqueue, claim, renew, finish, and the admin's reads.

A claim is one ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING``. On PostgreSQL the inner
SELECT takes ``FOR UPDATE SKIP LOCKED``, so concurrent claimers pass over each other's rows
instead of queueing on them, and a row another claimer just took fails the re-check of the
WHERE clause. SQLite renders no ``FOR UPDATE``: the statement runs under the database's single
write lock, which it takes before reading, so the SELECT and the UPDATE are one atomic step.
Run a claim as the first statement of its own transaction (the runner does): on SQLite a
transaction that read first may not be able to take the write lock.

Every write of a running job is fenced by the claim that started it (``locked_by`` and the
attempt number), not by the clock: a runner whose lease expired and whose job was claimed again
can neither finish it nor record progress.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.jobs.errors import LeaseLost
from proofpix_plugins.kit.repository import paginate
from proofpix_plugins.models.jobs import Job, JobStatus

_SYNC = {"synchronize_session": False}
#: What is kept of a failure's text (the traceback's tail is the useful part).
ERROR_CHARS = 8000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job as a runner claimed it: this attempt's number and the state saved so far."""

    id: uuid.UUID
    name: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    state: dict[str, Any]
    locked_by: str


def _held(job: ClaimedJob) -> ColumnElement[bool]:
    return and_(
        Job.id == job.id,
        Job.status == JobStatus.running,
        Job.locked_by == job.locked_by,
        Job.attempts == job.attempt,
    )


def _claimable(names: Sequence[str], now: datetime) -> ColumnElement[bool]:
    return and_(
        Job.name.in_(names),
        or_(
            and_(Job.status.in_([JobStatus.queued, JobStatus.failed]), Job.run_after <= now),
            # A runner that died (or stalled past its lease) left this one behind.
            and_(Job.status == JobStatus.running, Job.locked_until < now),
        ),
    )


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- enqueue ------------------------------------------------------------------------------

    async def insert(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        key: str | None,
        run_after: datetime,
        max_attempts: int,
        now: datetime,
    ) -> tuple[Job, bool]:
        """A new queued job, or the existing one with the same ``key`` (and False)."""
        values: dict[str, Any] = {
            "id": uuid.uuid4(), "name": name, "payload": payload, "idempotency_key": key,
            "status": JobStatus.queued, "attempts": 0, "max_attempts": max_attempts,
            "run_after": run_after, "state": {}, "created_at": now, "updated_at": now,
        }
        if key is None:
            job = Job(**values)
            self.session.add(job)
            await self.session.flush()
            return job, True
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        # ON CONFLICT DO NOTHING: of two transactions enqueueing one key, the second waits for
        # the first and then inserts nothing, where a SELECT-then-INSERT would race.
        statement = insert(Job).values(values).on_conflict_do_nothing(
            index_elements=[Job.idempotency_key]
        ).returning(Job.id)
        created = (await self.session.execute(statement)).scalar_one_or_none() is not None
        job = (await self.session.scalars(
            select(Job).where(Job.idempotency_key == key).execution_options(populate_existing=True)
        )).one()
        return job, created

    # --- the runner ---------------------------------------------------------------------------

    async def any_due(self, names: Sequence[str], now: datetime) -> bool:
        """Whether a claim would find something: a read, so an idle poll takes no write lock."""
        if not names:
            return False
        found = await self.session.scalar(select(Job.id).where(_claimable(names, now)).limit(1))
        return found is not None

    async def claim(
        self, names: Sequence[str], runner_id: str, *, lease: timedelta, now: datetime,
        limit: int,
    ) -> list[ClaimedJob]:
        """Take up to ``limit`` due jobs named in ``names`` for ``runner_id``."""
        if not names or limit < 1:
            return []
        due = (
            select(Job.id)
            .where(_claimable(names, now))
            .order_by(Job.run_after, Job.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(Job)
            .where(Job.id.in_(due.scalar_subquery()))
            .values(
                status=JobStatus.running, attempts=Job.attempts + 1, locked_by=runner_id,
                locked_until=now + lease, updated_at=now,
            )
            .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.max_attempts, Job.state)
            .execution_options(**_SYNC)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            ClaimedJob(
                id=r.id, name=r.name, payload=r.payload, attempt=r.attempts,
                max_attempts=r.max_attempts, state=r.state, locked_by=runner_id,
            )
            for r in rows
        ]

    async def renew(
        self, jobs: Sequence[ClaimedJob], *, until: datetime, now: datetime
    ) -> set[uuid.UUID]:
        """Extend the leases this runner still holds; the ids of those it does."""
        held: set[uuid.UUID] = set()
        for job in jobs:
            # One statement per job: each is fenced by its own attempt number. A runner holds
            # a handful at a time, so this is a handful of primary-key updates.
            result = await self.session.execute(
                update(Job).where(_held(job)).values(locked_until=until, updated_at=now)
                .returning(Job.id).execution_options(**_SYNC)
            )
            if result.scalar_one_or_none() is not None:
                held.add(job.id)
        return held

    async def save_state(self, job: ClaimedJob, state: dict[str, Any]) -> None:
        result = await self.session.execute(
            update(Job).where(_held(job)).values(state=state)
            .returning(Job.id).execution_options(**_SYNC)
        )
        if result.scalar_one_or_none() is None:
            raise LeaseLost(f"job {job.id} attempt {job.attempt} no longer holds its lease")

    async def succeed(self, job: ClaimedJob, *, now: datetime) -> bool:
        return await self._finish(
            job, status=JobStatus.succeeded, finished_at=now, last_error=None, now=now
        )

    async def fail(
        self, job: ClaimedJob, error: str, *, retry_at: datetime | None, now: datetime
    ) -> bool:
        """Record a failed attempt: ``failed`` until ``retry_at``, or ``dead`` without one."""
        if retry_at is None:
            return await self._finish(
                job, status=JobStatus.dead, finished_at=now, last_error=error, now=now
            )
        return await self._finish(
            job, status=JobStatus.failed, run_after=retry_at, last_error=error, now=now
        )

    async def release(self, job: ClaimedJob, *, now: datetime) -> bool:
        """Hand a job interrupted by shutdown back to the queue; the attempt does not count."""
        return await self._finish(
            job, status=JobStatus.queued, run_after=now, attempts=job.attempt - 1, now=now
        )

    async def _finish(self, job: ClaimedJob, *, now: datetime, **values: Any) -> bool:
        if "last_error" in values and values["last_error"] is not None:
            values["last_error"] = values["last_error"][-ERROR_CHARS:]
        result = await self.session.execute(
            update(Job).where(_held(job))
            .values(locked_by=None, locked_until=None, updated_at=now, **values)
            .returning(Job.id).execution_options(**_SYNC)
        )
        return result.scalar_one_or_none() is not None

    async def prune(self, *, finished_before: datetime) -> int:
        """Delete succeeded jobs finished before ``finished_before``; how many."""
        result = await self.session.execute(
            delete(Job)
            .where(Job.status == JobStatus.succeeded, Job.finished_at < finished_before)
            .returning(Job.id).execution_options(**_SYNC)
        )
        return len(result.all())

    # --- the admin ----------------------------------------------------------------------------

    async def get(self, job_id: uuid.UUID) -> Job | None:
        return await self.session.get(Job, job_id, populate_existing=True)

    async def page(
        self, *, statuses: Sequence[JobStatus], name: str | None, page: int, limit: int
    ) -> tuple[Sequence[Job], int]:
        statement = select(Job).order_by(Job.created_at.desc(), Job.id)
        if statuses:
            statement = statement.where(Job.status.in_(statuses))
        if name is not None:
            statement = statement.where(Job.name == name)
        return await paginate(self.session, statement, page=page, limit=limit)

    async def retry(self, job_id: uuid.UUID, *, now: datetime) -> Job | None:
        """Queue a failed or dead job to run now with at least one attempt left; else None."""
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_([JobStatus.failed, JobStatus.dead]))
            .values(
                status=JobStatus.queued, run_after=now, finished_at=None, updated_at=now,
                max_attempts=case(
                    (Job.max_attempts > Job.attempts, Job.max_attempts),
                    else_=Job.attempts + 1,
                ),
            )
            .returning(Job.id).execution_options(**_SYNC)
        )
        if result.scalar_one_or_none() is None:
            return None
        return await self.get(job_id)
