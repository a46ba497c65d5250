"""Durable background jobs: the row in ``jobs`` is the job's state.

Register handlers on a ``JobRegistry``, enqueue with ``JobQueue.enqueue`` inside the transaction
that needs the work done, and let the platform's ``JobRunner`` run them: at most one attempt at
a time across every process, under a lease renewed while it runs, retried with exponential
backoff, dead after ``max_attempts``. See ``runner.py`` and ``repository.py`` for how, and
docs/decisions.md for why no library does it.
"""

from __future__ import annotations

from proofpix_plugins.jobs.errors import JobError, LeaseLost, NotRetryable, RegistrationError
from proofpix_plugins.jobs.registry import Backoff, Handler, JobContext, JobRegistry, JobSpec
from proofpix_plugins.jobs.repository import ClaimedJob
from proofpix_plugins.jobs.runner import JobRunner
from proofpix_plugins.jobs.service import Enqueued, JobQueue

__all__ = [
    "Backoff",
    "ClaimedJob",
    "Enqueued",
    "Handler",
    "JobContext",
    "JobError",
    "JobQueue",
    "JobRegistry",
    "JobRunner",
    "JobSpec",
    "LeaseLost",
    "NotRetryable",
    "RegistrationError",
]
