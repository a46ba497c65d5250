"""The platform admin's view of background jobs: list them by status, retry a failed one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from proofpix_plugins.accounts.auth import require_platform_admin
from proofpix_plugins.db import SessionDep
from proofpix_plugins.errors import NotFound
from proofpix_plugins.jobs import service
from proofpix_plugins.jobs.schemas import JobId, JobOut
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.models.jobs import JobStatus

# PatternRoute routes only well-formed job ids (kit/routes.py).
router = APIRouter(
    prefix="/api/admin/jobs", tags=["admin"], route_class=PatternRoute,
    dependencies=[Depends(require_platform_admin)],
    responses=problem_responses(401, 403, 422),
)


def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = (
        DEFAULT_LIMIT),
) -> PageParams:
    # Not ``Annotated[PageParams, Query()]``: that model forbids extra fields, and a query
    # model sees every query parameter, so ``?status=`` would be refused beside it.
    return PageParams(page=page, limit=limit)


@router.get("", response_model=Page[JobOut])
async def list_jobs(
    session: SessionDep,
    params: Annotated[PageParams, Depends(_page)],
    status: Annotated[list[JobStatus] | None, Query(
        description="only jobs in these states (repeat the parameter for several)")] = None,
    name: Annotated[str | None, Query(
        max_length=100, description="only jobs of this task name, e.g. `jobs.prune`")] = None,
) -> Page[JobOut]:
    """List background jobs

    One page of the platform's background jobs, newest first, filtered by `status` (repeat it
    for several) and task `name`; `?status=dead` is the dead-letter queue.

    Who: a platform administrator (403 for anyone else).
    """
    items, total = await service.list_jobs(
        session, statuses=status or [], name=name, page=params.page, limit=params.limit
    )
    return Page.of([JobOut.model_validate(job) for job in items], total, params)


@router.get("/{job_id}", response_model=JobOut, responses=problem_responses(404))
async def get_job(job_id: JobId, session: SessionDep) -> JobOut:
    """Read a background job

    Its task, payload, state, attempts, lease and last error.

    Who: a platform administrator (403 for anyone else). 404 when no job has this id.
    """
    job = await service.get_job(session, as_uuid(job_id, NotFound, "job not found"))
    return JobOut.model_validate(job)


@router.post("/{job_id}/retry", response_model=JobOut, responses=problem_responses(404, 409))
async def retry_job(job_id: JobId, session: SessionDep) -> JobOut:
    """Retry a failed or dead job

    Queues the job to run again now, with at least one attempt left; answers the job.

    Who: a platform administrator (403 for anyone else). Notable errors: 404 when no job has
    this id, 409 when the job is not `failed` or `dead`.
    """
    job = await service.retry_job(session, as_uuid(job_id, NotFound, "job not found"))
    return JobOut.model_validate(job)
