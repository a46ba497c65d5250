"""The runner: claims due jobs, runs their handlers, keeps their leases, records how they ended.

One runner per process. It polls (with jitter, so many processes do not poll in step), claims
as many jobs as it has free slots, and runs each as a task. While a job runs, the runner renews
its lease every third of the lease; a job whose lease this runner lost (it stalled past the
lease and another runner claimed the job) is cancelled here, and its late writes are refused by
the claim fence (see ``repository.py``). A process killed outright stops renewing: its jobs
become claimable when their leases expire and run again, attempt + 1, in whichever process
claims them first.

A failed attempt is retried after the handler's backoff until ``max_attempts`` attempts have
started; then the job is ``dead`` and waits for an operator (``POST /api/admin/jobs/{id}/retry``).
A job whose last attempt was lost with its runner is dead too: a handler that kills its process
every time must not be retried forever.

``stop()`` stops claiming, lets running jobs finish for a grace period, then cancels them and
hands them back to the queue without counting the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs.errors import LeaseLost
from proofpix_plugins.jobs.registry import JobContext, JobRegistry, JobSpec
from proofpix_plugins.jobs.repository import ClaimedJob, JobRepository
from proofpix_plugins.jobs.service import JobQueue
from proofpix_plugins.models.base import utcnow

# Jitter from a generator of our own: the global `random` state belongs to the process (a
# seeded test, Hypothesis's generation in another thread), not to a background poll.
_jitter = random.Random()  # noqa: S311 - not a secret

log = structlog.get_logger(__name__)

_T = TypeVar("_T")


def default_runner_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    """Runs the registry's jobs from the database, ``concurrency`` at a time."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        registry: JobRegistry,
        *,
        concurrency: int = 2,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        shutdown_grace_seconds: float = 10.0,
        runner_id: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("a runner runs at least one job at a time")
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease and poll intervals are positive")
        self.sessions = session_factory
        self.registry = registry
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.grace_seconds = shutdown_grace_seconds
        self.runner_id = (runner_id or default_runner_id())[:100]
        self._running: dict[uuid.UUID, tuple[ClaimedJob, asyncio.Task[None]]] = {}
        self._lost: set[uuid.UUID] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._poll_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._next_periodic = 0.0

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._poll_task is not None:
            raise RuntimeError("the runner is already started")
        self._poll_task = asyncio.create_task(self._poll_loop(), name="jobs.poll")
        self._renew_task = asyncio.create_task(self._renew_loop(), name="jobs.renew")
        log.info("jobs.runner_started", runner=self.runner_id, jobs=self.registry.names(),
                 concurrency=self.concurrency)

    async def stop(self) -> None:
        """Stop claiming; finish or hand back what runs; safe to call twice."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        if self._poll_task is not None:
            await asyncio.gather(self._poll_task, return_exceptions=True)
        running = [task for _, task in self._running.values()]
        if running:
            _, pending = await asyncio.wait(running, timeout=self.grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        if self._renew_task is not None:
            self._renew_task.cancel()
            await asyncio.gather(self._renew_task, return_exceptions=True)
        log.info("jobs.runner_stopped", runner=self.runner_id)

    @property
    def running(self) -> int:
        """How many jobs run now."""
        return len(self._running)

    async def run_pending(self) -> int:
        """Claim and run due jobs until none is due (tests, the CLI); how many ran.

        Jobs run ``concurrency`` at a time, as the loop would run them.
        """
        ran = 0
        while True:
            claimed = await self._claim(self.concurrency)
            if not claimed:
                return ran
            await asyncio.gather(*(self._execute(job) for job in claimed))
            ran += len(claimed)

    # --- loops --------------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while not self._stopping:
            claimed: list[ClaimedJob] = []
            try:
                await self._enqueue_periodic()
                free = self.concurrency - len(self._running)
                claimed = await self._claim(free) if free > 0 else []
            except Exception:
                # The database may be restarting: keep polling, the next claim may work.
                log.exception("jobs.claim_failed", runner=self.runner_id)
            for job in claimed:
                task = asyncio.create_task(self._execute(job), name=f"jobs.run:{job.name}")
                self._running[job.id] = (job, task)
                task.add_done_callback(functools.partial(self._done, job.id))
            if claimed and len(self._running) < self.concurrency:
                continue  # there may be more due right now
            self._wake.clear()
            # Jitter: processes that started together do not keep polling in step.
            delay = self.poll_seconds * _jitter.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _done(self, job_id: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._lost.discard(job_id)
        self._wake.set()

    async def _renew_loop(self) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            jobs = [job for job, _ in self._running.values()]
            if not jobs:
                continue
            try:
                held = await self._renew(jobs)
            except Exception:
                # Not fatal yet: the lease has two more renewals' worth of time left.
                log.exception("jobs.renew_failed", runner=self.runner_id)
                continue
            for job in jobs:
                if job.id not in held and job.id in self._running:
                    log.warning("jobs.lease_lost", job=str(job.id), name=job.name,
                                attempt=job.attempt, runner=self.runner_id)
                    self._lost.add(job.id)
                    self._running[job.id][1].cancel()

    async def _renew(self, jobs: list[ClaimedJob]) -> set[uuid.UUID]:
        now = utcnow()
        return await self._write(lambda repo: repo.renew(jobs, until=now + self.lease, now=now))

    async def _enqueue_periodic(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_periodic:
            return
        # Once a minute is plenty: a slot's job, once enqueued, waits in the table.
        self._next_periodic = loop.time() + 60.0
        queue = JobQueue(self.registry)
        now = utcnow()
        for spec in self.registry:
            if spec.periodic is None:
                continue
            slot = spec.periodic.slot(now)
            async with session_scope(self.sessions) as session:
                await queue.enqueue(session, spec.name, key=f"{spec.name}@{slot.isoformat()}",
                                    run_after=slot)

    # --- one job ------------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[ClaimedJob]:
        now = utcnow()
        names = self.registry.names()
        # Look before claiming, in a transaction of its own: an idle poll is then a read, and
        # never queues for SQLite's write lock behind the requests' writes.
        async with session_scope(self.sessions) as session:
            if not await JobRepository(session).any_due(names, now):
                return []
        return await self._write(lambda repo: repo.claim(
            names, self.runner_id, lease=self.lease, now=now, limit=limit
        ))

    async def _write(self, work: Callable[[JobRepository], Awaitable[_T]]) -> _T:
        async with session_scope(self.sessions) as session:
            return await work(JobRepository(session))

    async def _execute(self, job: ClaimedJob) -> None:
        try:
            await self._run(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Recording the outcome failed (the database went away): the lease will expire
            # and the job run again, which is why handlers record their effects with state.
            log.exception("jobs.record_failed", job=str(job.id), name=job.name,
                          runner=self.runner_id)

    async def _run(self, job: ClaimedJob) -> None:
        spec = self.registry.get(job.name)
        assert spec is not None  # only registered names are claimed
        bound = log.bind(job=str(job.id), name=job.name, attempt=job.attempt,
                         runner=self.runner_id)
        if job.attempt > job.max_attempts:
            # The previous attempt was the last, and its runner vanished mid-run.
            await self._record_failure(
                spec, job, f"lease expired: the runner of attempt {job.attempt - 1} "
                "stopped before the job ended", bound, retry=False,
            )
            return
        bound.info("jobs.started")
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                await spec.handler(JobContext(job, self.sessions))
        except asyncio.CancelledError:
            if job.id in self._lost:
                bound.warning("jobs.abandoned")
            elif self._stopping:
                released = await self._write(lambda repo: repo.release(job, now=utcnow()))
                bound.info("jobs.released", released=released)
            raise
        except LeaseLost:
            bound.warning("jobs.lease_lost")
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc))
            if isinstance(exc, TimeoutError):
                detail = f"timed out after {spec.timeout_seconds} s\n{detail}"
            await self._record_failure(spec, job, detail, bound, retry=True)
        else:
            if await self._write(lambda repo: repo.succeed(job, now=utcnow())):
                bound.info("jobs.succeeded")
            else:
                bound.warning("jobs.lease_lost_before_success")

    async def _record_failure(
        self, spec: JobSpec, job: ClaimedJob, detail: str, bound: Any,
        *, retry: bool,
    ) -> None:
        now = utcnow()
        retry_at = None
        if retry and job.attempt < job.max_attempts:
            retry_at = now + spec.backoff.delay(job.attempt)
        recorded = await self._write(
            lambda repo: repo.fail(job, detail, retry_at=retry_at, now=now)
        )
        first_line = detail.strip().splitlines()[-1] if detail.strip() else ""
        if retry_at is None:
            bound.error("jobs.dead", error=first_line, recorded=recorded)
        else:
            bound.warning("jobs.failed", error=first_line, retry_at=retry_at.isoformat(),
                          recorded=recorded)
