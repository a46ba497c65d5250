"""What a runner can run: job names mapped to async handlers and their retry policy.

Handlers are validated when they are registered, not when a job first reaches them: a bad name,
a sync function or a duplicate fails at start-up with an error naming the job.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from proofpix_plugins.jobs.errors import RegistrationError
from proofpix_plugins.jobs.repository import ClaimedJob, JobRepository

# Jitter from a generator of our own: the global `random` state belongs to the process (a
# seeded test, Hypothesis's generation in another thread), not to a background poll.
_jitter = random.Random()  # noqa: S311 - not a secret

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class JobContext:
    """What a handler gets: its job, a session factory, and ``save_state`` under its lease.

    A handler that may be run again after a crash records what it did with ``save_state`` in
    the same transaction as the effect itself; the next attempt reads it from ``job.state``.
    """

    def __init__(
        self, job: ClaimedJob, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        self.job = job
        self.session_factory = session_factory

    async def save_state(self, session: AsyncSession, state: dict[str, Any]) -> None:
        """Stage ``state`` as the job's progress in ``session``'s transaction.

        Raises ``LeaseLost`` when this attempt no longer holds the job, so an effect written
        in the same transaction is rolled back with it: a runner that lost its lease cannot
        record anything.
        """
        await JobRepository(session).save_state(self.job, state)


Handler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, at most ``cap`` seconds."""

    base_seconds: float = 10.0
    cap_seconds: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> timedelta:
        raw = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        # Jitter spreads the retries of many jobs that failed together (a database blip).
        spread = 1 + _jitter.uniform(-self.jitter, self.jitter)
        return timedelta(seconds=max(0.0, raw * spread))


@dataclass(frozen=True, slots=True)
class Periodic:
    """Run once per ``every``, across every process: the slot's start names the job."""

    every: timedelta

    def slot(self, now: datetime) -> datetime:
        step = self.every.total_seconds()
        start = (now.timestamp() // step) * step
        return datetime.fromtimestamp(start, tz=now.tzinfo)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A registered job: its handler and how it is retried."""

    name: str
    handler: Handler
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    timeout_seconds: float = 3600.0
    periodic: Periodic | None = None


class JobRegistry:
    """Job name → handler. Every process that runs jobs registers the same handlers."""

    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        timeout_seconds: float = 3600.0,
        every: timedelta | None = None,
    ) -> JobSpec:
        """Register ``handler`` for jobs named ``name`` (dotted lowercase, e.g. ``blobs.sweep``).

        ``every``: also enqueue this job once per period (idempotency key ``name@slot``).
        """
        if not _NAME.fullmatch(name) or len(name) > 100:
            raise RegistrationError(f"job {name!r}: the name must be dotted lowercase words")
        if name in self._specs:
            raise RegistrationError(f"job {name!r} is already registered")
        if not inspect.iscoroutinefunction(handler):
            raise RegistrationError(f"job {name!r}: the handler must be an async function")
        if max_attempts < 1:
            raise RegistrationError(f"job {name!r}: max_attempts must be at least 1")
        if timeout_seconds <= 0:
            raise RegistrationError(f"job {name!r}: timeout_seconds must be positive")
        if every is not None and every.total_seconds() < 1:
            raise RegistrationError(f"job {name!r}: a period is at least one second")
        spec = JobSpec(
            name=name, handler=handler, max_attempts=max_attempts,
            backoff=backoff or Backoff(), timeout_seconds=timeout_seconds,
            periodic=Periodic(every) if every is not None else None,
        )
        self._specs[name] = spec
        return spec

    def job(self, name: str, **options: Any) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(name, handler, **options)
            return handler

        return decorate

    def get(self, name: str) -> JobSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)
