"""Wire shapes of the jobs admin API (camelCase)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from proofpix_plugins.kit.schemas import CamelResponse
from proofpix_plugins.models.jobs import JobStatus


class JobOut(CamelResponse):
    id: uuid.UUID
    name: str
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime
    locked_by: str | None = None
    locked_until: datetime | None = None
    last_error: str | None = None
    idempotency_key: str | None = None
    payload: dict[str, Any]
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
