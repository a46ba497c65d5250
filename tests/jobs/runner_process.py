"""A process that runs jobs and nothing else, for the crash test (``python -m`` this module).

``python -m tests.jobs.runner_process DB_URL MARKER_DIR LEASE_SECONDS``: runs ``test.crashy``
jobs until SIGTERM, after writing its runner id to ``MARKER_DIR/runner-id``. A job's first
attempt stops mid-run, before or after its side effect as its payload says, touching
``<id>-1`` in MARKER_DIR so the test knows where to kill the process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from proofpix_plugins.db import create_engine_for_url, create_session_factory, session_scope
from proofpix_plugins.jobs import JobContext, JobRegistry, JobRunner
from proofpix_plugins.models.audit import AuditLog

EFFECT = "test.job_side_effect"


def build_registry(markers: Path) -> JobRegistry:
    registry = JobRegistry()

    async def stall(ctx: JobContext) -> None:
        (markers / f"{ctx.job.id}-{ctx.job.attempt}").touch()
        await asyncio.sleep(3600)  # the test kills the process here

    @registry.job("test.crashy")
    async def crashy(ctx: JobContext) -> None:
        first = ctx.job.attempt == 1
        if first and ctx.job.payload["stop"] == "before-effect":
            await stall(ctx)
        if not ctx.job.state.get("recorded"):
            # The effect and the note that it happened commit together, under the lease.
            async with session_scope(ctx.session_factory) as session:
                session.add(AuditLog(action=EFFECT, target=str(ctx.job.id), outcome="success",
                                     details={"attempt": ctx.job.attempt}))
                await ctx.save_state(session, {"recorded": True})
        if first and ctx.job.payload["stop"] == "after-effect":
            await stall(ctx)

    return registry


async def main(db_url: str, markers: Path, lease_seconds: float) -> None:
    engine = create_engine_for_url(db_url)
    runner = JobRunner(create_session_factory(engine), build_registry(markers), concurrency=4,
                       lease_seconds=lease_seconds, poll_seconds=0.05)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await runner.start()
    (markers / "runner-id").write_text(runner.runner_id)
    await stop.wait()
    await runner.stop()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])))
