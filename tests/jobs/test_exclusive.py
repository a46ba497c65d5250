"""Several runners on one database, each with its own engine (as separate processes have):
no job runs twice, none runs concurrently with itself, every one runs."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

from sqlalchemy import func, select

from proofpix_plugins.db import create_engine_for_url, create_session_factory, session_scope
from proofpix_plugins.jobs import JobContext, JobQueue, JobRegistry, JobRunner
from proofpix_plugins.models.jobs import Job, JobStatus
from tests.waiting import eventually

JOBS = 120
RUNNERS = 3


async def test_competing_runners_run_every_job_exactly_once(db_url: str) -> None:
    runs: Counter[uuid.UUID] = Counter()
    active: set[uuid.UUID] = set()
    overlaps: list[uuid.UUID] = []
    by_runner: Counter[str] = Counter()
    registry = JobRegistry()

    @registry.job("test.count")
    async def count(ctx: JobContext) -> None:
        if ctx.job.id in active:
            overlaps.append(ctx.job.id)
        active.add(ctx.job.id)
        try:
            runs[ctx.job.id] += 1
            by_runner[ctx.job.locked_by] += 1
            await asyncio.sleep(random.uniform(0, 0.005))  # noqa: S311 - timing only
        finally:
            active.discard(ctx.job.id)

    engines = [create_engine_for_url(db_url) for _ in range(RUNNERS)]
    factories = [create_session_factory(engine) for engine in engines]
    async with session_scope(factories[0]) as session:
        queue = JobQueue(registry)
        ids = [(await queue.enqueue(session, "test.count", {"i": i})).id for i in range(JOBS)]
    runners = [
        JobRunner(factory, registry, concurrency=4, poll_seconds=0.01, lease_seconds=5)
        for factory in factories
    ]
    try:
        for runner in runners:
            await runner.start()

        async def all_done() -> bool:
            async with session_scope(factories[0]) as session:
                done = await session.scalar(select(func.count()).select_from(Job).where(
                    Job.status == JobStatus.succeeded))
            return done == JOBS

        await eventually(all_done, what=f"{JOBS} jobs succeed", seconds=60)
        async with session_scope(factories[0]) as session:
            attempts = set((await session.scalars(select(Job.attempts))).all())
    finally:
        for runner in runners:
            await runner.stop()
        for engine in engines:
            await engine.dispose()
    assert overlaps == []
    assert set(runs) == set(ids)
    assert set(runs.values()) == {1}
    assert attempts == {1}
    assert len(by_runner) > 1, by_runner  # the runners did compete
