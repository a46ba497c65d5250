"""What one sandboxed call produced, and what the sandbox looks like on this host."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CallStatus = Literal["ok", "error", "timeout", "crashed", "denied"]


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
