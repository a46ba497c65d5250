"""Platform-admin routes: the moderation queue, approve and reject, and queueing a re-scan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.accounts.auth import PlatformAdmin, require_platform_admin
from proofpix_plugins.db import SessionDep
from proofpix_plugins.errors import NotFound
from proofpix_plugins.jobs import JobQueue
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.marketplace import moderation
from proofpix_plugins.marketplace.pipeline import PipelineDeps
from proofpix_plugins.marketplace.rescan import RESCAN
from proofpix_plugins.marketplace.schemas import (
    AdminSubmissionOut,
    DecisionIn,
    RejectionIn,
    RescanOut,
    SubmissionId,
    SubmissionOut,
)
from proofpix_plugins.models.marketplace import Submission, SubmissionStatus

router = APIRouter(prefix="/api/admin", tags=["admin"], route_class=PatternRoute,
                   dependencies=[Depends(require_platform_admin)],
                   responses=problem_responses(401, 403, 422))


def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = (
        DEFAULT_LIMIT),
) -> PageParams:
    return PageParams(page=page, limit=limit)


async def _out(session: AsyncSession, submission: Submission) -> AdminSubmissionOut:
    wire = SubmissionOut.model_validate(submission).model_dump()
    return AdminSubmissionOut(
        **wire, developer_id=submission.developer_id, release_notes=submission.release_notes,
        diff=await moderation.review_diff(session, submission),
    )


def _deps(request: Request) -> PipelineDeps:
    deps: PipelineDeps = request.app.state.marketplace
    return deps


@router.get("/submissions", response_model=Page[AdminSubmissionOut])
async def list_submissions(
    session: SessionDep,
    params: Annotated[PageParams, Depends(_page)],
    status: Annotated[SubmissionStatus | None, Query(
        description="only submissions in this state, e.g. `in_review` for the queue")] = None,
) -> Page[AdminSubmissionOut]:
    """List marketplace submissions (the moderation queue)

    One page of submissions, oldest first, filtered by `status` (`?status=in_review` is the
    review queue); each with its diff against the newest published version: permissions,
    network hosts, secret config keys and findings.

    Who: a platform administrator (403 for anyone else).
    """
    rows, total = await moderation.page(session, status=status, page_no=params.page,
                                        limit=params.limit)
    return Page.of([await _out(session, r) for r in rows], total, params)


@router.get("/submissions/{submission_id}", response_model=AdminSubmissionOut,
            responses=problem_responses(404))
async def get_submission(submission_id: SubmissionId, session: SessionDep) -> AdminSubmissionOut:
    """Read a submission for review

    The submission with its scan report, review reasons, release notes and diff against the
    newest published version.

    Who: a platform administrator (403 for anyone else). 404 for an unknown id.
    """
    sid = as_uuid(submission_id, NotFound, "submission not found")
    return await _out(session, await moderation.get(session, sid))


@router.post("/submissions/{submission_id}/approve", response_model=AdminSubmissionOut,
             responses=problem_responses(404, 409))
async def approve_submission(
    submission_id: SubmissionId, admin: PlatformAdmin, session: SessionDep,
    deps: Annotated[PipelineDeps, Depends(_deps)], body: DecisionIn | None = None,
) -> AdminSubmissionOut:
    """Approve a submission in review

    Publishes the version exactly as the pipeline would (listing, signed version, log entry),
    or, for a version a re-scan sent back to review, makes it installable again.

    Who: a platform administrator (403 for anyone else). Notable errors: 409 when the
    submission is not `in_review` (already decided, still scanning) or a newer version of the
    plugin was published meanwhile; 404 for an unknown id.
    """
    sid = as_uuid(submission_id, NotFound, "submission not found")
    submission = await moderation.approve(
        session, sid, reviewer=admin.user_id, reason=body.reason if body else None,
        key=deps.key, rules_version=deps.rules_version,
    )
    return await _out(session, submission)


@router.post("/submissions/{submission_id}/reject", response_model=AdminSubmissionOut,
             responses=problem_responses(404, 409))
async def reject_submission(
    submission_id: SubmissionId, body: RejectionIn, admin: PlatformAdmin, session: SessionDep,
) -> AdminSubmissionOut:
    """Reject a submission in review

    Records the decision and its required `reason`, which the developer reads as
    `decisionReason`. Nothing is published.

    Who: a platform administrator (403 for anyone else). Notable errors: 409 when the
    submission is not `in_review`; 404 for an unknown id.
    """
    sid = as_uuid(submission_id, NotFound, "submission not found")
    submission = await moderation.reject(session, sid, reviewer=admin.user_id,
                                         reason=body.reason)
    return await _out(session, submission)


@router.post("/marketplace/rescan", response_model=RescanOut, status_code=202)
async def queue_rescan(
    request: Request, session: SessionDep, deps: Annotated[PipelineDeps, Depends(_deps)],
) -> RescanOut:
    """Re-scan every published version under the current rules

    Queues the `marketplace.rescan` job for the running rule set (once per rule-set version);
    a version that now fails goes back to review and its installations get a warning event.
    Follow the job at `/api/admin/jobs/{jobId}`.

    Who: a platform administrator (403 for anyone else).
    """
    queue: JobQueue = request.app.state.job_queue
    rules = deps.rules_version
    job = await queue.enqueue(session, RESCAN, {"rulesVersion": rules}, key=f"{RESCAN}:{rules}")
    return RescanOut(job_id=job.id, rules_version=rules, created=job.created)
