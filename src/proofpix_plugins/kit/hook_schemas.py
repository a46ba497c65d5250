"""The wire shape of a hook call's results (SPEC §4), as OpenAPI documents it.

Shared by the hook route (``plugins/``) and the photo pipeline's stored results (``files/``), so
neither domain imports the other for it. The runtime's ``HookResult.to_wire`` produces it.
"""

from __future__ import annotations

from typing import Any

from proofpix_plugins.kit.schemas import CamelResponse


class PluginResultOut(CamelResponse):
    """One plugin's outcome: ``result`` when its status is ok, ``error`` otherwise."""

    plugin_id: str
    status: str
    duration_ms: float
    result: Any = None
    error: str | None = None


class HookResultOut(CamelResponse):
    """SPEC §4: one result per plugin, in call order; ``result`` or ``error`` per status."""

    hook: str
    duration_ms: float
    results: list[PluginResultOut]
