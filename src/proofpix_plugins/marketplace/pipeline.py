"""The durable job behind a submission: scan, decide, and publish or queue for review.

Idempotent and crash-safe by construction: the job first moves the submission to ``scanning``
(committed), scans a private copy of the artifact off the event loop, then records the whole
decision (status, report, reasons and, when it publishes, the version row and log entry) in one
transaction fenced by the job's lease. A process killed mid-scan leaves the submission
``scanning``; the job runs again in the next process and scans again. A job that finds its
submission already decided does nothing.

Decision, in order: a scan with blocking findings is ``rejected`` with the report; a version
that is no longer admissible (a newer one was published meanwhile, the listing was suspended)
is ``rejected`` naming why; a version that asks for more than its predecessor (``review_diff``)
or comes from an unverified developer goes to ``in_review`` with the reasons; otherwise it is
published at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.jobs import JobContext
from proofpix_plugins.marketplace.admission import check_admissible
from proofpix_plugins.marketplace.publishing import previous_published, publish
from proofpix_plugins.marketplace.review_diff import diff
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import Developer, Submission, SubmissionStatus
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.scanning import Check, scan_package
from proofpix_plugins.scanning.ruleset import ruleset_version
from proofpix_plugins.storage.blobstore import BlobStore

log = structlog.get_logger(__name__)

UNVERIFIED_REASON = (
    "unverified publisher: every version is reviewed until the namespace is verified"
)


def python_version() -> str:
    return ".".join(str(v) for v in sys.version_info[:3])


@dataclass
class PipelineDeps:
    """What the marketplace's jobs need from the running platform."""

    blobs: BlobStore
    key: PlatformKey
    #: The scanner's checks; the same list (object) the re-scan uses, so both agree.
    checks: list[Check]
    #: Awaited after a submission is marked ``scanning`` and before the scan: a seam for the
    #: crash test to hold a job mid-scan (``None`` in production).
    before_scan: Callable[[uuid.UUID], Awaitable[None]] | None = None
    platform_version: str = PLATFORM_VERSION
    python_version: str = field(default_factory=python_version)

    @property
    def rules_version(self) -> str:
        return ruleset_version(self.checks)


async def scan_artifact(deps: PipelineDeps, sha256: str) -> dict[str, Any]:
    """Scan a stored artifact (from a private temporary copy) in a thread; the JSON report."""
    data = await deps.blobs.get_bytes(sha256)
    checks: Sequence[Check] = list(deps.checks)

    def run() -> dict[str, Any]:
        fd, name = tempfile.mkstemp(prefix="ppx-submission-", suffix=".ppx")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            report = scan_package(Path(name), platform_version=deps.platform_version,
                                  python_version=deps.python_version, checks=checks)
            return report.to_json()
        finally:
            os.unlink(name)

    return await asyncio.to_thread(run)


def blocking_reasons(report: dict[str, Any]) -> list[str]:
    out = []
    for f in report.get("findings") or []:
        if f.get("severity") in ("critical", "high"):
            where = f.get("file") or "(package)"
            if f.get("line"):
                where = f"{where}:{f['line']}"
            out.append(f"{f.get('ruleId')} at {where}: {f.get('message')}"[:500])
    return out[:50] or ["the package failed validation"]


async def _claim(ctx: JobContext, submission_id: uuid.UUID) -> Submission | None:
    """Move a pending submission to ``scanning``; None when it is already decided."""
    async with session_scope(ctx.session_factory) as session:
        submission = await session.get(Submission, submission_id)
        if submission is None or submission.status not in (
            SubmissionStatus.pending, SubmissionStatus.scanning
        ):
            return None
        if submission.status is SubmissionStatus.pending:
            submission.status = SubmissionStatus.scanning
            submission.updated_at = utcnow()
        return submission


async def _decide(
    session: AsyncSession, submission: Submission, report: dict[str, Any], deps: PipelineDeps
) -> None:
    now = utcnow()
    submission.scan_report = report
    submission.updated_at = now
    if report.get("rejected") or report.get("manifest") is None:
        submission.status = SubmissionStatus.rejected
        submission.review_reasons = blocking_reasons(report)
        submission.decision_reason = "the security scan found errors; see the scan report"
        submission.decided_at = now
        return
    developer = await session.get(Developer, submission.developer_id)
    assert developer is not None
    try:
        await check_admissible(
            session, developer_id=developer.id, namespace=developer.namespace,
            plugin_id=submission.plugin_id, version=submission.version,
            exclude_submission=submission.id, open_submissions=False,
        )
    except ProofPixError as exc:
        submission.status = SubmissionStatus.rejected
        submission.review_reasons = [str(exc)]
        submission.decision_reason = exc.detail
        submission.decided_at = now
        return
    previous = await previous_published(session, submission.plugin_id)
    reasons = diff(previous, report).reasons()
    if not developer.verified:
        reasons.append(UNVERIFIED_REASON)
    if reasons:
        submission.status = SubmissionStatus.in_review
        submission.review_reasons = reasons
        return
    await publish(session, submission, key=deps.key, rules_version=deps.rules_version)


def register(registry: Any, deps: PipelineDeps, name: str) -> None:
    """Register the submission job under ``name`` on a ``JobRegistry``."""

    async def process_submission(ctx: JobContext) -> None:
        submission_id = uuid.UUID(str(ctx.job.payload["submissionId"]))
        claimed = await _claim(ctx, submission_id)
        if claimed is None:
            return
        if deps.before_scan is not None:
            await deps.before_scan(submission_id)
        report = await scan_artifact(deps, claimed.artifact_sha256)
        async with session_scope(ctx.session_factory) as session:
            # Only the attempt holding the job decides, and only a submission still scanning.
            fenced = await session.execute(
                update(Submission)
                .where(Submission.id == submission_id,
                       Submission.status == SubmissionStatus.scanning)
                .values(updated_at=utcnow())
            )
            if not fenced.rowcount:  # type: ignore[attr-defined]
                return
            submission = await session.get(Submission, submission_id)
            assert submission is not None
            await _decide(session, submission, report, deps)
            await ctx.save_state(session, {"decided": submission.status.value})
        log.info("marketplace.submission_decided", submission=str(submission_id),
                 plugin=claimed.plugin_id, version=claimed.version,
                 status=submission.status.value)

    registry.register(name, process_submission, max_attempts=5, timeout_seconds=900.0)
