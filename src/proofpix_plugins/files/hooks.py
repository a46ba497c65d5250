"""What the photo pipeline needs from the plugin platform: a way to run a hook for a file.

``PluginService`` satisfies it; ``files/`` depends on this protocol, not on ``plugins/``, so the
plugin domain (whose broker reads files) and the file domain do not import each other.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import HookResult


class HookRunner(Protocol):
    async def execute_hook(
        self, org_id: uuid.UUID, name: str, data: Any, options: HookOptions | None = None,
        *, file_id: str | None = None,
    ) -> HookResult:
        """Run hook ``name`` on the organization's loaded plugins; ``file_id`` scopes file I/O."""
        ...
