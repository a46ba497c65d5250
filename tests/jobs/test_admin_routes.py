"""The jobs admin API: platform admins list jobs by status and retry failed ones; everyone
else gets problem+json."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs import JobContext, JobQueue, JobRegistry
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.jobs import Job, JobStatus

PROBLEM = "application/problem+json"


async def _noop(ctx: JobContext) -> None:
    return None


@pytest.fixture
async def jobs(app) -> dict[str, uuid.UUID]:
    """One job in each state, by state name."""
    registry = JobRegistry()
    registry.register("test.noop", _noop)
    queue = JobQueue(registry)
    ids: dict[str, uuid.UUID] = {}
    async with session_scope(app.state.session_factory) as session:
        for status in JobStatus:
            job_id = (await queue.enqueue(session, "test.noop", {"s": status.value})).id
            values: dict = {"status": status}
            if status in (JobStatus.failed, JobStatus.dead):
                values |= {"attempts": 5, "last_error": "RuntimeError: boom",
                           "run_after": utcnow() + timedelta(hours=1)}
            await session.execute(update(Job).where(Job.id == job_id).values(**values))
            ids[status.value] = job_id
    return ids


async def test_anonymous_callers_get_a_401_problem(client, jobs) -> None:
    for method, path in (("GET", "/api/admin/jobs"),
                         ("POST", f"/api/admin/jobs/{jobs['dead']}/retry")):
        response = await client.request(method, path)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM


async def test_members_who_are_not_platform_admins_get_a_403_problem(
    client, make_user, jobs,
) -> None:
    _, headers = await make_user(role="owner")
    for method, path in (("GET", "/api/admin/jobs?status=dead"),
                         ("GET", f"/api/admin/jobs/{jobs['dead']}"),
                         ("POST", f"/api/admin/jobs/{jobs['dead']}/retry")):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 403, (method, path)
        assert response.headers["content-type"] == PROBLEM
        assert "platform administrators" in response.json()["detail"]


async def test_platform_admins_list_jobs_by_status(client, make_user, jobs) -> None:
    _, headers = await make_user(platform_admin=True)
    response = await client.get("/api/admin/jobs?status=dead", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    [dead] = body["items"]
    assert dead["id"] == str(jobs["dead"])
    assert (dead["status"], dead["attempts"], dead["lastError"]) == (
        "dead", 5, "RuntimeError: boom")

    both = await client.get("/api/admin/jobs?status=failed&status=dead", headers=headers)
    assert {item["status"] for item in both.json()["items"]} == {"failed", "dead"}
    every = await client.get("/api/admin/jobs?limit=100", headers=headers)
    assert every.json()["total"] == len(JobStatus)
    bad = await client.get("/api/admin/jobs?status=sleeping", headers=headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM


async def test_retrying_a_dead_job_queues_it_now_with_one_more_attempt(
    client, make_user, jobs,
) -> None:
    _, headers = await make_user(platform_admin=True)
    response = await client.post(f"/api/admin/jobs/{jobs['dead']}/retry", headers=headers)
    assert response.status_code == 200
    job = response.json()
    assert (job["status"], job["attempts"], job["maxAttempts"]) == ("queued", 5, 6)
    assert job["finishedAt"] is None
    listed = await client.get(f"/api/admin/jobs/{jobs['dead']}", headers=headers)
    assert listed.json()["status"] == "queued"  # committed


async def test_only_failed_or_dead_jobs_can_be_retried(client, make_user, jobs) -> None:
    _, headers = await make_user(platform_admin=True)
    failed = await client.post(f"/api/admin/jobs/{jobs['failed']}/retry", headers=headers)
    assert failed.status_code == 200
    assert failed.json()["status"] == "queued"
    for status in ("queued", "running", "succeeded"):
        response = await client.post(f"/api/admin/jobs/{jobs[status]}/retry", headers=headers)
        assert response.status_code == 409, status
        assert response.headers["content-type"] == PROBLEM
    for missing in (uuid.uuid4(), "not-a-uuid"):
        response = await client.post(f"/api/admin/jobs/{missing}/retry", headers=headers)
        assert response.status_code == 404
