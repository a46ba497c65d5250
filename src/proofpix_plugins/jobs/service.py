"""Enqueueing jobs, and the admin's view of them.

``JobQueue.enqueue`` writes in the caller's session, so a job is committed with the rows that
asked for it (a submission and its scan) or not at all. It never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import NotFound, ValidationFailed
from proofpix_plugins.jobs.errors import NotRetryable
from proofpix_plugins.jobs.registry import JobRegistry
from proofpix_plugins.jobs.repository import JobRepository
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.jobs import Job, JobStatus


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The job an ``enqueue`` names, and whether this call created it (False: same key)."""

    id: uuid.UUID
    created: bool


class JobQueue:
    """Enqueues jobs the registry knows (a typo fails at the call, not in a runner's log)."""

    def __init__(self, registry: JobRegistry) -> None:
        self.registry = registry

    async def enqueue(
        self,
        session: AsyncSession,
        name: str,
        payload: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        run_after: datetime | None = None,
    ) -> Enqueued:
        """Stage job ``name`` in ``session``'s transaction.

        ``key``: an idempotency key; enqueueing a key that exists (in any state, until the job
        is pruned) returns that job instead. ``run_after``: not before this time (default now).
        """
        spec = self.registry.get(name)
        if spec is None:
            raise ValidationFailed(f"no job handler is registered as {name!r}")
        if key is not None and not 1 <= len(key) <= 200:
            raise ValidationFailed("an idempotency key has 1 to 200 characters")
        now = utcnow()
        job, created = await JobRepository(session).insert(
            name, dict(payload or {}), key=key, run_after=run_after or now,
            max_attempts=spec.max_attempts, now=now,
        )
        return Enqueued(job.id, created)


async def list_jobs(
    session: AsyncSession,
    *,
    statuses: Sequence[JobStatus],
    name: str | None,
    page: int,
    limit: int,
) -> tuple[Sequence[Job], int]:
    return await JobRepository(session).page(
        statuses=statuses, name=name, page=page, limit=limit
    )


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job:
    job = await JobRepository(session).get(job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


async def retry_job(session: AsyncSession, job_id: uuid.UUID) -> Job:
    """Run a failed or dead job again now, with at least one attempt left."""
    repo = JobRepository(session)
    job = await repo.retry(job_id, now=utcnow())
    if job is not None:
        return job
    current = await get_job(session, job_id)
    raise NotRetryable(
        f"job {job_id} is {current.status.value}: only failed or dead jobs can be retried"
    )
