"""The wire shape of a hook call's results (SPEC §4), as OpenAPI documents it.

Shared by the hook route (``plugins/``) and the photo pipeline's stored results (``files/``), so
neither domain imports the other for it. The runtime's ``HookResult.to_wire`` produces it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from proofpix_plugins.kit.schemas import CamelResponse


class TraceFrameOut(CamelResponse):
    """One frame of the plugin's own code in a failed call's traceback."""

    file: str
    """Path inside the plugin package, e.g. `plugin/__init__.py`."""
    line: int
    """1-based line number."""
    function: str
    """The function the frame ran."""
    code: str = ""
    """The source line, stripped."""


class PluginResultOut(CamelResponse):
    """One plugin's outcome: ``result`` when its status is ok, ``error`` otherwise."""

    plugin_id: str
    """The plugin's id."""
    status: str
    """`ok`, `error`, `timeout`, `denied` (a permission missing), `crashed` or `skipped` (not
    called: disabled or unloaded meanwhile; `error` says why)."""
    duration_ms: float
    """Wall time of the call, milliseconds."""
    result: Any = None
    """What the handler returned (any JSON value), when `status` is `ok`."""
    error: str | None = None
    """What went wrong, when `status` is not `ok`."""
    traceback: list[TraceFrameOut] | None = None
    """For a plugin's own exception: its frames (plugin code only, outermost first, at most
    20), so the author sees file and line."""


class HookResultOut(CamelResponse):
    """SPEC §4: one result per plugin, in call order; ``result`` or ``error`` per status."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "hook": "custom:count", "durationMs": 6.3,
        "results": [{"pluginId": "acme.counter", "status": "ok", "durationMs": 5.1,
                     "result": {"n": 3}}],
    }]})

    hook: str
    """The hook called."""
    duration_ms: float
    """Wall time of the whole call, milliseconds."""
    results: list[PluginResultOut]
    """One result per plugin, in call order (empty when no loaded plugin has the hook)."""
