"""Platform administration, first part: ``/console/admin/review`` lists the submissions in
review (``moderation.page``), one submission shows its diff against the previous version
(``moderation.review_diff``: permissions, hosts, secret keys, findings) and the scan report, and
approve or reject with a reason call ``moderation.approve``/``reject`` as the admin API does.
Platform administrators only (``require_platform_admin``, the API's guard)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.accounts.auth import Principal, require_platform_admin
from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import FieldError, NotFound, ValidationFailed
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.marketplace import moderation
from proofpix_plugins.marketplace.pipeline import PipelineDeps
from proofpix_plugins.marketplace.schemas import DecisionIn, RejectionIn
from proofpix_plugins.models.marketplace import SubmissionStatus
from proofpix_plugins.web.auth import Console, require_user
from proofpix_plugins.web.pages.common import field, form_data, page, redirect, route_kwargs
from proofpix_plugins.web.pages.submissions import fix_hint
from proofpix_plugins.web.templating import render

router = APIRouter()
SHOWN = 50
_ops = rate_limit("plugin_ops")


async def platform_admin(console: Console) -> Principal:
    return await require_platform_admin(require_user(console))


def _submission_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params.get("submission_id", "")))
    except ValueError:
        raise NotFound("submission not found") from None


@page
async def queue(request: Request, console: Console) -> Response:
    await platform_admin(console)
    async with session_scope(request.app.state.session_factory) as session:
        rows, total = await moderation.page(session, status=SubmissionStatus.in_review,
                                            page_no=1, limit=SHOWN)
    return render(request, "admin/queue.html", title="Review queue", submissions=rows,
                  total=total)


@page
async def review(request: Request, console: Console) -> Response:
    await platform_admin(console)
    sid = _submission_id(request)
    async with session_scope(request.app.state.session_factory) as session:
        submission = await moderation.get(session, sid)
        diff = await moderation.review_diff(session, submission)
    report: dict[str, Any] = submission.scan_report or {}
    findings = [{**f, "hint": fix_hint(str(f.get("ruleId", "")))}
                for f in (report.get("findings") or []) if isinstance(f, dict)]
    return render(request, "admin/review.html", title="Review a submission",
                  submission=submission, diff=diff, findings=findings)


def _reason(raw: str, model: type[DecisionIn] | type[RejectionIn]) -> str | None:
    try:
        return model(reason=raw if raw or model is RejectionIn else None).reason
    except ValidationError as exc:
        raise ValidationFailed("the reason is invalid", errors=tuple(
            FieldError("reason", e["msg"], e["type"]) for e in exc.errors()[:5])) from None


@page
async def decide(request: Request, console: Console) -> Response:
    admin = await platform_admin(console)
    await _ops(request)
    sid = _submission_id(request)
    form = await form_data(request)
    decision = field(form, "decision")
    deps: PipelineDeps = request.app.state.marketplace
    async with session_scope(request.app.state.session_factory) as session:
        if decision == "approve":
            await moderation.approve(session, sid, reviewer=admin.user_id,
                                     reason=_reason(field(form, "reason"), DecisionIn),
                                     key=deps.key, rules_version=deps.rules_version)
        elif decision == "reject":
            reason = _reason(field(form, "reason"), RejectionIn)
            assert reason is not None
            await moderation.reject(session, sid, reviewer=admin.user_id, reason=reason)
        else:
            raise ValidationFailed("choose approve or reject", errors=(
                FieldError("decision", "must be approve or reject", "enum"),))
    return redirect(request, console, "/console/admin/review")


router.add_api_route("/console/admin/review", queue, methods=["GET"], **route_kwargs())
router.add_api_route("/console/admin/review/{submission_id}", review, methods=["GET"],
                     **route_kwargs())
router.add_api_route("/console/admin/review/{submission_id}", decide, methods=["POST"],
                     **route_kwargs())
