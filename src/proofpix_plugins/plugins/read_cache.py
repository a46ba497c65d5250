"""A per-process cache of the plugin list and detail, dropped whenever the organization changes.

Every change to an organization's installed plugins goes through ``PluginService`` and ends in
an event on the event hub (install, upgrade, load, unload, consent, config, disable, uninstall),
which every process of the deployment receives (Redis) and which drops that organization's
entries here. A read takes the organization's version before it queries and stores its answer
under that version, so an answer read before a change is never served after it. Entries also
expire after ``ttl`` seconds: a change no event announces (hand-written SQL, processes without
a shared hub) is seen within it, the convergence SPEC §10 asks for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

MAX_ENTRIES = 10_000


class OrgReadCache:
    def __init__(self, *, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._versions: dict[str, int] = {}
        self._entries: dict[tuple[str, Hashable], tuple[int, float, Any]] = {}

    def version(self, org_id: str) -> int:
        return self._versions.get(org_id, 0)

    def get(self, org_id: str, key: Hashable) -> Any | None:
        hit = self._entries.get((org_id, key))
        if hit is None:
            return None
        version, expires, value = hit
        if version != self._versions.get(org_id, 0) or self._clock() >= expires:
            self._entries.pop((org_id, key), None)
            return None
        return value

    def put(self, org_id: str, key: Hashable, version: int, value: Any) -> None:
        if self.ttl <= 0 or version != self._versions.get(org_id, 0):
            return  # the organization changed while this answer was being read
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[(org_id, key)] = (version, self._clock() + self.ttl, value)

    def invalidate(self, org_id: str) -> None:
        # Versions only grow (never reset by a clear), so no stale read can match again.
        self._versions[org_id] = self._versions.get(org_id, 0) + 1
