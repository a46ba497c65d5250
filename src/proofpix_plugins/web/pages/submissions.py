"""The developer portal's submissions: upload a ``.ppx`` from the page (``intake.submit``, the
function ``POST /api/developers/plugins`` calls, with the ``uploads`` rate limit), the list of
the developer's submissions with their status (``moderation.page``), and one submission with
its scan report: each finding's file, line, rule and the rule's fix hint (``scanning.rules``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.auth import DeveloperPrincipal
from proofpix_plugins.developers.service import DeveloperService
from proofpix_plugins.errors import NotFound
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.marketplace import intake, moderation
from proofpix_plugins.scanning.rules import rule
from proofpix_plugins.web.auth import Console, require_user
from proofpix_plugins.web.pages.common import (
    UPLOAD_BODY,
    page,
    redirect,
    route_kwargs,
    spool_upload,
    upload_page,
)
from proofpix_plugins.web.templating import render

router = APIRouter()
SHOWN = 50
_uploads = rate_limit("uploads")
_default = rate_limit("default")
#: A console session acts as the developer without an API key; intake reads the developer's
#: id and namespace only, never ``key_id``.
NO_KEY = uuid.UUID(int=0)


def fix_hint(rule_id: str) -> str:
    try:
        found = rule(rule_id)
    except KeyError:
        return ""
    return f"{found.title}. {found.why}"


@page
async def list_page(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _default(request)
    async with session_scope(request.app.state.session_factory) as session:
        developer = await DeveloperService(session).require_profile(principal.user_id)
        rows, total = await moderation.page(session, status=None, page_no=1, limit=SHOWN,
                                            developer_id=developer.id)
    return render(request, "developer/submissions.html", title="Submissions",
                  developer=developer, submissions=rows, total=total)


@upload_page
async def submit(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _uploads(request)
    state = request.app.state
    async with session_scope(state.session_factory) as session:
        developer = await DeveloperService(session).require_profile(principal.user_id)
    spooled = await spool_upload(request, console)
    try:
        acting = DeveloperPrincipal(
            developer_id=developer.id, user_id=developer.user_id,
            namespace=developer.namespace, verified=developer.verified, key_id=NO_KEY,
            scopes=frozenset({"publish"}))
        async with session_scope(state.session_factory) as session:
            submission = await intake.submit(
                session, acting, spooled.path,
                release_notes=str(spooled.fields.get("release_notes") or "")[:5000],
                signature=None, blobs=state.blob_store, queue=state.job_queue)
            sid = submission.id
    finally:
        spooled.discard()
    return redirect(request, console, f"/console/developer/submissions/{sid}")


@page
async def detail_page(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _default(request)
    try:
        sid = uuid.UUID(str(request.path_params.get("submission_id", "")))
    except ValueError:
        raise NotFound("submission not found") from None
    async with session_scope(request.app.state.session_factory) as session:
        developer = await DeveloperService(session).require_profile(principal.user_id)
        submission = await moderation.get(session, sid)
    if submission.developer_id != developer.id:
        raise NotFound("submission not found")
    report: dict[str, Any] = submission.scan_report or {}
    findings = [{**f, "hint": fix_hint(str(f.get("ruleId", "")))}
                for f in (report.get("findings") or []) if isinstance(f, dict)]
    return render(request, "developer/submission.html", title="Submission",
                  submission=submission, findings=findings, scanned=bool(report))


router.add_api_route("/console/developer/submissions", list_page, methods=["GET"],
                     **route_kwargs())
router.add_api_route("/console/developer/submissions", submit, methods=["POST"],
                     **route_kwargs(openapi_extra=UPLOAD_BODY))
router.add_api_route("/console/developer/submissions/{submission_id}", detail_page,
                     methods=["GET"], **route_kwargs())
