"""The job queue on both databases: enqueue, claim, finish, retry, dead letter, leases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import ValidationFailed
from proofpix_plugins.jobs import (
    Backoff,
    JobContext,
    JobQueue,
    JobRegistry,
    JobRunner,
    LeaseLost,
    RegistrationError,
)
from proofpix_plugins.jobs.repository import JobRepository
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.jobs import Job, JobStatus
from tests.waiting import eventually

Sessions = async_sessionmaker[AsyncSession]


async def enqueue(sessions: Sessions, registry: JobRegistry, name: str, **kwargs: Any) -> uuid.UUID:
    async with session_scope(sessions) as session:
        return (await JobQueue(registry).enqueue(session, name, **kwargs)).id


async def job_row(sessions: Sessions, job_id: uuid.UUID) -> Job:
    async with session_scope(sessions) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def test_an_enqueued_job_is_claimed_run_and_marked_succeeded(session_factory) -> None:
    seen: list[dict[str, Any]] = []
    registry = JobRegistry()

    @registry.job("test.record")
    async def record(ctx: JobContext) -> None:
        seen.append(ctx.job.payload)

    job_id = await enqueue(session_factory, registry, "test.record", payload={"n": 1})
    queued = await job_row(session_factory, job_id)
    assert (queued.status, queued.attempts) == (JobStatus.queued, 0)

    runner = JobRunner(session_factory, registry)
    assert await runner.run_pending() == 1
    assert seen == [{"n": 1}]
    done = await job_row(session_factory, job_id)
    assert (done.status, done.attempts, done.locked_by) == (JobStatus.succeeded, 1, None)
    assert done.finished_at is not None
    assert await runner.run_pending() == 0


async def test_enqueueing_one_idempotency_key_twice_makes_one_job(session_factory) -> None:
    registry = JobRegistry()
    registry.register("test.noop", _noop)
    queue = JobQueue(registry)

    async def once() -> tuple[uuid.UUID, bool]:
        async with session_scope(session_factory) as session:
            result = await queue.enqueue(session, "test.noop", key="scan:abc")
            return result.id, result.created

    results = await asyncio.gather(*(once() for _ in range(8)))
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    async with session_scope(session_factory) as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 1


async def test_a_job_does_not_run_before_its_run_after(session_factory) -> None:
    registry = JobRegistry()
    registry.register("test.noop", _noop)
    job_id = await enqueue(session_factory, registry, "test.noop",
                           run_after=utcnow() + timedelta(hours=1))
    assert await JobRunner(session_factory, registry).run_pending() == 0
    assert (await job_row(session_factory, job_id)).status is JobStatus.queued


async def test_enqueueing_an_unregistered_job_is_refused(session_factory) -> None:
    async with session_scope(session_factory) as session:
        with pytest.raises(ValidationFailed):
            await JobQueue(JobRegistry()).enqueue(session, "test.nobody")


async def test_a_runner_claims_only_the_jobs_it_has_handlers_for(session_factory) -> None:
    mine, other = JobRegistry(), JobRegistry()
    mine.register("test.mine", _noop)
    other.register("test.other", _noop)
    theirs = await enqueue(session_factory, other, "test.other")
    assert await JobRunner(session_factory, mine).run_pending() == 0
    assert (await job_row(session_factory, theirs)).status is JobStatus.queued


async def test_failed_attempts_back_off_exponentially_then_the_job_is_dead(
    session_factory,
) -> None:
    registry = JobRegistry()

    async def boom(ctx: JobContext) -> None:
        raise RuntimeError(f"boom {ctx.job.attempt}")

    registry.register("test.boom", boom, max_attempts=3,
                      backoff=Backoff(base_seconds=0.2, jitter=0))
    job_id = await enqueue(session_factory, registry, "test.boom")
    runner = JobRunner(session_factory, registry)

    gaps = []
    for attempt in (1, 2):
        assert await runner.run_pending() == 1
        job = await job_row(session_factory, job_id)
        assert (job.status, job.attempts) == (JobStatus.failed, attempt)
        assert job.last_error is not None
        assert f"RuntimeError: boom {attempt}" in job.last_error
        # updated_at is when the failure was recorded, run_after the retry it scheduled.
        gaps.append(round((job.run_after - job.updated_at).total_seconds(), 3))
        due = job.run_after
        await eventually(lambda: utcnow() >= due, what="the retry is due")  # noqa: B023
    assert gaps == [0.2, 0.4]

    assert await runner.run_pending() == 1
    dead = await job_row(session_factory, job_id)
    assert (dead.status, dead.attempts) == (JobStatus.dead, 3)
    assert dead.last_error is not None
    assert "boom 3" in dead.last_error
    assert dead.finished_at is not None
    await asyncio.sleep(0.05)
    assert await runner.run_pending() == 0  # the dead stay dead until an operator acts


async def test_a_job_that_fails_once_succeeds_on_its_retry(session_factory) -> None:
    registry = JobRegistry()

    async def flaky(ctx: JobContext) -> None:
        if ctx.job.attempt == 1:
            raise ConnectionError("upstream down")

    registry.register("test.flaky", flaky, backoff=Backoff(base_seconds=0.01, jitter=0))
    job_id = await enqueue(session_factory, registry, "test.flaky")
    runner = JobRunner(session_factory, registry)
    await runner.run_pending()

    async def succeeded() -> bool:
        await runner.run_pending()
        return (await job_row(session_factory, job_id)).status is JobStatus.succeeded

    await eventually(succeeded, what="the retry succeeds")
    job = await job_row(session_factory, job_id)
    assert job.attempts == 2
    assert job.last_error is None


async def test_a_timed_out_attempt_is_a_failed_attempt(session_factory) -> None:
    registry = JobRegistry()

    async def slow(ctx: JobContext) -> None:
        await asyncio.sleep(10)

    registry.register("test.slow", slow, timeout_seconds=0.05, max_attempts=1)
    job_id = await enqueue(session_factory, registry, "test.slow")
    await JobRunner(session_factory, registry).run_pending()
    job = await job_row(session_factory, job_id)
    assert job.status is JobStatus.dead
    assert job.last_error is not None
    assert job.last_error.startswith("timed out after 0.05 s")


async def test_a_held_lease_is_not_claimable_and_an_expired_one_is_fenced(
    session_factory,
) -> None:
    registry = JobRegistry()
    registry.register("test.noop", _noop)
    job_id = await enqueue(session_factory, registry, "test.noop")

    async def claim(runner_id: str, lease: float) -> list:
        async with session_scope(session_factory) as session:
            return await JobRepository(session).claim(
                ["test.noop"], runner_id, lease=timedelta(seconds=lease), now=utcnow(), limit=5
            )

    [first] = await claim("runner-a", 0.2)
    assert first.id == job_id
    assert first.attempt == 1
    assert await claim("runner-b", 60) == []  # held

    await asyncio.sleep(0.25)  # runner-a went silent: its lease expires
    [second] = await claim("runner-b", 60)
    assert (second.id, second.attempt) == (job_id, 2)

    async with session_scope(session_factory) as session:
        repo = JobRepository(session)
        # The first claim can neither record progress nor finish the job any more.
        with pytest.raises(LeaseLost):
            await repo.save_state(first, {"done": True})
        assert not await repo.succeed(first, now=utcnow())
        assert await repo.succeed(second, now=utcnow())
    job = await job_row(session_factory, job_id)
    assert (job.status, job.attempts, job.state) == (JobStatus.succeeded, 2, {})


async def test_a_job_whose_last_attempt_lost_its_runner_is_dead(session_factory) -> None:
    registry = JobRegistry()
    registry.register("test.once", _noop, max_attempts=1)
    job_id = await enqueue(session_factory, registry, "test.once")
    async with session_scope(session_factory) as session:
        await JobRepository(session).claim(
            ["test.once"], "vanished", lease=timedelta(seconds=0.05), now=utcnow(), limit=1
        )
    await asyncio.sleep(0.1)
    assert await JobRunner(session_factory, registry).run_pending() == 1
    job = await job_row(session_factory, job_id)
    assert job.status is JobStatus.dead
    assert job.last_error is not None
    assert job.last_error.startswith("lease expired")


async def test_a_running_job_keeps_its_lease_past_the_lease_time(session_factory) -> None:
    runs: list[int] = []
    registry = JobRegistry()

    async def long(ctx: JobContext) -> None:
        runs.append(ctx.job.attempt)
        await asyncio.sleep(2.5)

    registry.register("test.long", long)
    job_id = await enqueue(session_factory, registry, "test.long")
    first = JobRunner(session_factory, registry, lease_seconds=1.0, poll_seconds=0.02)
    second = JobRunner(session_factory, registry, lease_seconds=1.0, poll_seconds=0.02)
    await first.start()
    await eventually(lambda: runs, what="the job starts")
    await second.start()
    try:
        async def finished() -> bool:
            return (await job_row(session_factory, job_id)).status is JobStatus.succeeded

        await eventually(finished, what="the job finishes")
    finally:
        await first.stop()
        await second.stop()
    assert runs == [1]  # 2.5 leases long, never claimed by the second runner


async def test_a_runner_that_lost_its_lease_cancels_the_job(session_factory) -> None:
    events: list[str] = []
    registry = JobRegistry()

    async def waits(ctx: JobContext) -> None:
        events.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    registry.register("test.waits", waits)
    job_id = await enqueue(session_factory, registry, "test.waits")
    runner = JobRunner(session_factory, registry, lease_seconds=0.3, poll_seconds=0.02)
    await runner.start()
    try:
        await eventually(lambda: events, what="the job starts")
        # Another runner took the job over (this one stalled past its lease).
        async with session_scope(session_factory) as session:
            await session.execute(update(Job).where(Job.id == job_id).values(
                locked_by="someone-else", attempts=Job.attempts + 1))
        await eventually(lambda: "cancelled" in events, what="the lost job is cancelled")
        await eventually(lambda: runner.running == 0, what="the runner lets it go")
    finally:
        await runner.stop()
    job = await job_row(session_factory, job_id)
    assert (job.status, job.locked_by) == (JobStatus.running, "someone-else")


async def test_stopping_a_runner_hands_its_running_jobs_back(session_factory) -> None:
    started = asyncio.Event()
    registry = JobRegistry()

    async def forever(ctx: JobContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    registry.register("test.forever", forever)
    job_id = await enqueue(session_factory, registry, "test.forever")
    runner = JobRunner(session_factory, registry, poll_seconds=0.02, shutdown_grace_seconds=0.05)
    await runner.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    await runner.stop()
    job = await job_row(session_factory, job_id)
    assert (job.status, job.attempts, job.locked_by) == (JobStatus.queued, 0, None)


async def test_a_periodic_job_is_enqueued_once_per_period_across_runners(
    session_factory,
) -> None:
    ran: list[str] = []
    registry = JobRegistry()

    async def tick(ctx: JobContext) -> None:
        ran.append(ctx.job.name)

    registry.register("test.tick", tick, every=timedelta(hours=1))
    runners = [JobRunner(session_factory, registry, poll_seconds=0.02) for _ in range(3)]
    for runner in runners:
        await runner.start()
    try:
        await eventually(lambda: ran, what="the periodic job runs")
        await asyncio.sleep(0.2)
    finally:
        for runner in runners:
            await runner.stop()
    assert ran == ["test.tick"]
    async with session_scope(session_factory) as session:
        [job] = (await session.scalars(select(Job))).all()
    assert job.idempotency_key is not None
    assert job.idempotency_key.startswith("test.tick@")


def test_handlers_are_checked_when_registered() -> None:
    registry = JobRegistry()
    registry.register("test.noop", _noop)
    with pytest.raises(RegistrationError, match="already registered"):
        registry.register("test.noop", _noop)
    with pytest.raises(RegistrationError, match="async"):
        registry.register("test.sync", lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(RegistrationError, match="dotted lowercase"):
        registry.register("Test Job", _noop)
    with pytest.raises(RegistrationError, match="max_attempts"):
        registry.register("test.never", _noop, max_attempts=0)


async def _noop(ctx: JobContext) -> None:
    return None
