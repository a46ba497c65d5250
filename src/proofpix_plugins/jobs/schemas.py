"""Wire shapes of the jobs admin API (camelCase)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Path
from pydantic import ConfigDict

from proofpix_plugins.kit.schemas import CamelResponse
from proofpix_plugins.models.jobs import JobStatus

_T0: Final = "2026-12-01T09:30:00Z"
EXAMPLE_JOB_ID: Final = "7c2d9e4f-1a3b-4c5d-8e6f-0a1b2c3d4e5f"

#: A job id in a URL path: routing (kit.routes.PatternRoute) and the document use the pattern.
JobId = Annotated[str, Path(
    pattern="^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
    description="The job's id (a UUID), as the job list gives it.",
    examples=[EXAMPLE_JOB_ID],
)]


class JobOut(CamelResponse):
    """A background job: what it runs, where it is in its life, and its last error."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": EXAMPLE_JOB_ID, "name": "jobs.prune", "status": "dead", "attempts": 5,
        "maxAttempts": 5, "runAfter": _T0, "lockedBy": None, "lockedUntil": None,
        "lastError": "OperationalError: database is locked", "idempotencyKey": None,
        "payload": {}, "state": {}, "createdAt": _T0, "updatedAt": _T0, "finishedAt": _T0,
    }]})

    id: uuid.UUID
    """The job's id."""
    name: str
    """The registered task the job runs (e.g. `jobs.prune`)."""
    status: JobStatus
    """Where the job is in its life: `queued`, `running`, `failed`, `dead` or `succeeded`."""
    attempts: int
    """Attempts started so far (a claim by a runner counts one)."""
    max_attempts: int
    """How many attempts may start before the job is `dead`."""
    run_after: datetime
    """When the job is due (its next attempt, for a `queued` or `failed` job)."""
    locked_by: str | None = None
    """The runner holding the job while it is `running`."""
    locked_until: datetime | None = None
    """When the running job's lease ends (another runner may claim it after that)."""
    last_error: str | None = None
    """The error of the last failed attempt."""
    idempotency_key: str | None = None
    """The key it was enqueued under, if any: enqueueing the same key returns this job."""
    payload: dict[str, Any]
    """The task's input, as enqueued."""
    state: dict[str, Any]
    """What the task recorded of its own progress (how a rerun knows what it already did)."""
    created_at: datetime
    """When the job was enqueued."""
    updated_at: datetime
    """When the job last changed."""
    finished_at: datetime | None = None
    """When the job succeeded or went `dead`."""
