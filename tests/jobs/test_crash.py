"""A runner process killed with SIGKILL mid-job: its jobs run again after their leases expire,
in the next process, and each job's side effect is recorded exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs import JobQueue
from proofpix_plugins.models.audit import AuditLog
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.jobs import Job, JobStatus
from tests.jobs.runner_process import EFFECT, build_registry
from tests.waiting import eventually, eventually_sync

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2.0

pytestmark = pytest.mark.slow


def start_runner(db_url: str, markers: Path) -> subprocess.Popen[bytes]:
    (markers / "runner-id").unlink(missing_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.runner_process", db_url, str(markers),
         str(LEASE_SECONDS)],
        cwd=ROOT,
    )


def stop_runner(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def test_jobs_killed_mid_run_finish_once_after_a_restart(
    session_factory, db_url: str, tmp_path: Path,
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    queue = JobQueue(build_registry(markers))
    async with session_scope(session_factory) as session:
        before = (await queue.enqueue(session, "test.crashy", {"stop": "before-effect"})).id
        after = (await queue.enqueue(session, "test.crashy", {"stop": "after-effect"})).id

    first = start_runner(db_url, markers)
    try:
        eventually_sync(
            lambda: all((markers / f"{job}-1").exists() for job in (before, after)),
            what="both jobs reach their stopping point", seconds=30,
        )
        first_id = (markers / "runner-id").read_text()
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop_runner(first)

    async with session_scope(session_factory) as session:
        held = (await session.scalars(select(Job))).all()
        effects = await _effects(session)
    # Killed mid-run: still running under the dead process's lease, nothing finished.
    assert {(j.status, j.attempts, j.locked_by) for j in held} == {
        (JobStatus.running, 1, first_id)}
    assert all(j.locked_until is not None and j.locked_until > utcnow() for j in held)
    assert effects == {str(after): 1}

    second = start_runner(db_url, markers)
    try:
        async def finished() -> bool:
            async with session_scope(session_factory) as session:
                statuses = set((await session.scalars(select(Job.status))).all())
            return statuses == {JobStatus.succeeded}

        await eventually(finished, what="the restarted runner finishes both jobs", seconds=30)
    finally:
        stop_runner(second)

    async with session_scope(session_factory) as session:
        done = (await session.scalars(select(Job))).all()
        effects = await _effects(session)
    assert {(j.attempts, j.locked_by) for j in done} == {(2, None)}
    assert effects == {str(before): 1, str(after): 1}


async def _effects(session) -> dict[str, int]:
    rows = await session.execute(
        select(AuditLog.target, func.count()).where(AuditLog.action == EFFECT)
        .group_by(AuditLog.target)
    )
    return {target: count for target, count in rows.all()}
