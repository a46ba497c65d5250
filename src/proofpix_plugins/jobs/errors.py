"""The jobs package's errors."""

from __future__ import annotations

from proofpix_plugins.errors import Conflict, ProofPixError


class JobError(ProofPixError):
    """Root of the jobs package's errors."""


class RegistrationError(JobError):
    """A job handler was registered with a bad name or options, or twice."""


class LeaseLost(JobError):
    """This runner no longer holds the job: its lease expired and another runner claimed it."""

    status = 409
    title = "Lease Lost"
    slug = "job-lease-lost"


class NotRetryable(Conflict):
    """Only a failed or dead job can be retried by hand."""

    title = "Job Not Retryable"
    slug = "job-not-retryable"
