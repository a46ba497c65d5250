"""Durable background jobs: the row is the job's whole state (see ``proofpix_plugins.jobs``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from proofpix_plugins.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class JobStatus(StrEnum):
    """Where a job is in its life.

    ``queued`` waits for ``run_after``; ``running`` is held by the runner named in
    ``locked_by`` until ``locked_until`` (claimable again once that passes); ``failed`` had an
    attempt fail and waits for its retry at ``run_after``; ``dead`` used every attempt and waits
    for an operator; ``succeeded`` is done.
    """

    queued = "queued"
    running = "running"
    failed = "failed"
    dead = "dead"
    succeeded = "succeeded"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim: eligible rows by status and due time.
        Index(None, "status", "run_after"),
        # Expired leases of running jobs.
        Index(None, "status", "locked_until"),
        # The admin list: filtered by status, newest first.
        Index(None, "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Enqueueing a key that exists returns the existing job (NULLs never collide).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[JobStatus] = mapped_column(
        str_enum(JobStatus, "job_status"), default=JobStatus.queued
    )
    # Attempts started (a claim counts one), and how many may start before the job is dead.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    # What the handler recorded of its own progress, written under its lease: how a handler
    # that is run again after a crash knows what it already did.
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    finished_at: Mapped[datetime | None]
