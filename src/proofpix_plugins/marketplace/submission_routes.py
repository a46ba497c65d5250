"""Developer routes of the publishing pipeline: submit a version, read own submissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from proofpix_plugins.db import SessionDep, session_scope
from proofpix_plugins.developers.auth import (
    DeveloperPrincipal,
    api_key_scheme,
    require_api_key,
)
from proofpix_plugins.errors import Forbidden, NotFound
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams
from proofpix_plugins.kit.problem_schema import answers, problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit, rate_limit_reads
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.marketplace import intake, moderation
from proofpix_plugins.marketplace.schemas import SubmissionAccepted, SubmissionId, SubmissionOut
from proofpix_plugins.marketplace.submission_form import (
    OPENAPI_REQUEST_BODY,
    SubmissionForm,
    submission_form,
)
from proofpix_plugins.models.marketplace import ApiKeyScope, SubmissionStatus

# Reads under the default budget; a submission under the uploads budget (by client address:
# an API key is not a bearer token, so the limiter keys it like an anonymous caller).
router = APIRouter(prefix="/api/developers", tags=["developers"], route_class=PatternRoute,
                   dependencies=[Depends(rate_limit_reads())],
                   responses=problem_responses(401, 403, 422))

Publisher = Annotated[DeveloperPrincipal, Depends(require_api_key(ApiKeyScope.publish))]
_needs_read = require_api_key(ApiKeyScope.read)
_needs_publish = require_api_key(ApiKeyScope.publish)


@answers(401, 403)
async def _reader(
    request: Request, key: Annotated[str | None, Depends(api_key_scheme)]
) -> DeveloperPrincipal:
    # Reading one's own submissions needs `read` or `publish`: the key that submitted a version
    # (a CI key, often publish-only) must be able to poll its status.
    try:
        return await _needs_read(request, key)
    except Forbidden:
        return await _needs_publish(request, key)


Reader = Annotated[DeveloperPrincipal, Depends(_reader)]
# Declared after the key in a route's signature, so nobody unauthorized gets a body spooled.
Form = Annotated[SubmissionForm, Depends(submission_form, scope="function")]


def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = (
        DEFAULT_LIMIT),
) -> PageParams:
    return PageParams(page=page, limit=limit)


@router.post("/plugins", status_code=202, response_model=SubmissionAccepted,
             dependencies=[Depends(rate_limit("uploads"))],
             responses=problem_responses(400, 409, 413, 415, 507),
             openapi_extra={"requestBody": OPENAPI_REQUEST_BODY})
async def submit_plugin(request: Request, developer: Publisher, form: Form) -> JSONResponse:
    """Submit a plugin version to the marketplace

    Streams the `.ppx` (multipart part `file`, at most the upload limit) with optional
    `releaseNotes` and `signature`, checks at once what can be checked without scanning (the
    plugin id's namespace, the version order, a suspended listing, the developer's signature),
    stores the artifact and queues the security scan. Answers 202 with the submission's id;
    poll `statusUrl` for `scanning`, `in_review`, `published` or `rejected`.

    Who: a developer, with an API key carrying the `publish` scope (`X-API-Key`). Notable
    errors: 403 on field `pluginId` for an id outside the developer's namespace; 409 for a
    replayed or downgraded version or a suspended listing; 400 when the developer has a signing
    key and the package is unsigned, 422 when the signature does not verify with an active
    key; 415 for a file that is not a zip; 413 over the size limit.
    """
    state = request.app.state
    async with session_scope(state.session_factory) as session:
        submission = await intake.submit(
            session, developer, form.package, release_notes=form.release_notes,
            signature=form.signature, blobs=state.blob_store, queue=state.job_queue,
        )
        body = SubmissionAccepted(
            id=submission.id, status=submission.status, plugin_id=submission.plugin_id,
            version=submission.version,
            status_url=f"/api/developers/submissions/{submission.id}",
        )
    return JSONResponse(body.model_dump(mode="json"), status_code=202,
                        headers={"Location": body.status_url})


@router.get("/submissions", response_model=Page[SubmissionOut])
async def list_own_submissions(
    developer: Reader,
    session: SessionDep,
    params: Annotated[PageParams, Depends(_page)],
    status: Annotated[SubmissionStatus | None, Query(
        description="only submissions in this state")] = None,
) -> Page[SubmissionOut]:
    """List your submissions

    One page of the calling developer's submissions, newest first, optionally filtered by
    `status`.

    Who: a developer, with an API key carrying the `read` or `publish` scope (`X-API-Key`).
    """
    rows, total = await moderation.page(session, status=status, page_no=params.page,
                                        limit=params.limit, developer_id=developer.developer_id)
    return Page.of([SubmissionOut.model_validate(r) for r in rows], total, params)


@router.get("/submissions/{submission_id}", response_model=SubmissionOut,
            responses=problem_responses(404))
async def get_own_submission(
    submission_id: SubmissionId, developer: Reader, session: SessionDep
) -> SubmissionOut:
    """Read one of your submissions

    Its status, the full scan report (as `plugin validate --format json` shows it, once the
    scan ran), the reasons it went to review or was rejected, and the reviewer's decision.

    Who: the developer who submitted it, with an API key carrying the `read` or `publish`
    scope. Another developer's submission is a 404, as is an unknown id.
    """
    sid = as_uuid(submission_id, NotFound, "submission not found")
    submission = await moderation.get(session, sid)
    if submission.developer_id != developer.developer_id:
        raise NotFound("submission not found")
    return SubmissionOut.model_validate(submission)
