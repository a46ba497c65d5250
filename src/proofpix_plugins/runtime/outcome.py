"""What one sandboxed call produced, and what the sandbox looks like on this host."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: ``skipped``: the bus did not call the plugin (disabled or unloaded meanwhile); never a
#: worker's answer, so it does not count towards the circuit breaker.
CallStatus = Literal["ok", "error", "timeout", "crashed", "denied", "skipped"]


@dataclass
class CallOutcome:
    """The result of one hook call into one worker, with its resource use."""

    status: CallStatus
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0
    cpu_ms: float | None = None
    peak_rss_kb: int | None = None
    http_calls: int = 0
    storage_bytes: int = 0
    #: The plugin's own traceback frames of a failed call, outermost first (see TraceLine).
    trace: tuple[TraceLine, ...] = ()
    #: False when the call never reached the worker: it timed out queued behind the plugin's
    #: other calls. The host's queue is not the plugin's failure; the circuit breaker skips it.
    ran: bool = True


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One frame of a plugin's traceback: package-relative file, line, function, source."""

    file: str
    line: int
    function: str
    code: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function,
                "code": self.code}


@dataclass(frozen=True)
class SandboxReport:
    """Which isolation layers this host offers; ``level`` is what /api/health shows."""

    level: Literal["full", "degraded", "insecure"]
    layers: dict[str, bool]
    missing: list[str]
    landlock_abi: int
    details: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "layers": dict(self.layers),
            "missing": list(self.missing),
            "landlockAbi": self.landlock_abi,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class LiveWorker:
    """One running worker, for tests and the health endpoint."""

    pid: int
    org_id: str
    plugin_id: str
    calls: int
    rss_kb: int | None
