"""What a hook call answers: one :class:`PluginResult` per plugin inside a :class:`HookResult`
(the SPEC §4 wire shape), and the :class:`CallRecord` each finished call hands to a metrics sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proofpix_plugins.runtime.hooks.options import HookMode
from proofpix_plugins.runtime.outcome import CallStatus

__all__ = ["CallRecord", "HookResult", "PluginResult"]


@dataclass
class PluginResult:
    """What one plugin answered to one hook call."""

    plugin_id: str
    status: CallStatus
    duration_ms: float
    result: Any = None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pluginId": self.plugin_id,
            "status": self.status,
            "durationMs": round(self.duration_ms, 3),
        }
        if self.status == "ok":
            out["result"] = self.result
        else:
            out["error"] = self.error or self.status
        return out


@dataclass
class HookResult:
    """SPEC §4 result of one ``execute_hook``; ``output`` is the waterfall's final value."""

    hook: str
    duration_ms: float
    results: list[PluginResult] = field(default_factory=list)
    mode: HookMode = "parallel"
    output: Any = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hook": self.hook,
            "durationMs": round(self.duration_ms, 3),
            "results": [r.to_wire() for r in self.results],
        }
        if self.mode == "waterfall":
            out["output"] = self.output
        return out

    def by_plugin(self) -> dict[str, PluginResult]:
        return {r.plugin_id: r for r in self.results}


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished plugin call, as handed to ``on_metrics`` (e.g. Prometheus counters)."""

    org_id: str
    plugin_id: str
    hook: str
    status: CallStatus
    duration_ms: float
    cpu_ms: float | None = None
    peak_rss_kb: int | None = None
    http_calls: int = 0
    storage_bytes: int = 0
