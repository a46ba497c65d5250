"""What a hook call answers: one :class:`PluginResult` per plugin inside a :class:`HookResult`
(the SPEC §4 wire shape), and the :class:`CallRecord` each finished call hands to a metrics sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proofpix_plugins.runtime.hooks.options import HookMode
from proofpix_plugins.runtime.outcome import CallStatus, TraceLine

__all__ = ["ERROR_TEXT_MAX_CHARS", "CallRecord", "HookResult", "PluginResult"]


#: The longest text :meth:`PluginResult.error_text` returns (error line plus traceback).
ERROR_TEXT_MAX_CHARS = 4000


@dataclass
class PluginResult:
    """What one plugin answered to one hook call.

    ``trace``: for an ``error``/``denied`` raised by the plugin, its own frames (package-relative
    file, line, function, source), outermost first; the worker drops every frame outside the
    plugin's package, so neither host code nor another plugin's shows (``sandbox/trace.py``).
    ``skipped`` results carry the reason in ``error``.
    """

    plugin_id: str
    status: CallStatus
    duration_ms: float
    result: Any = None
    error: str | None = None
    trace: tuple[TraceLine, ...] = ()

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
            if self.trace:
                out["traceback"] = [t.as_dict() for t in self.trace]
        return out

    def error_text(self, max_chars: int = ERROR_TEXT_MAX_CHARS) -> str:
        """The error with the plugin's traceback under it, Python-style, at most ``max_chars``:
        what stored results (the photo pipeline's) keep."""
        head = self.error or self.status
        if not self.trace:
            return head[:max_chars]
        lines = ["Traceback (plugin frames, most recent call last):"]
        for t in self.trace:
            lines.append(f'  File "{t.file}", line {t.line}, in {t.function}')
            if t.code:
                lines.append(f"    {t.code}")
        lines.append(head)
        text = "\n".join(lines)
        # Over the cap the innermost frames and the error line matter most: cut the top.
        return text if len(text) <= max_chars else "…" + text[-max_chars + 1:]


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
    #: Capability -> requests the call made that the host served (refusals are events).
    capabilities: dict[str, int] = field(default_factory=dict)
