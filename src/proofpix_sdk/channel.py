"""How the SDK reaches the host: the worker runtime provides a :class:`Channel`."""

from __future__ import annotations

from typing import Any, Protocol


class Channel(Protocol):
    def request(self, cap: str, args: dict[str, Any]) -> Any:
        """Ask the host for a capability and wait for its answer (raises SDK errors)."""

    def log(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        """Send a log line; the host rate-limits and may drop it."""

    def blocked(self, module: str, permission: str) -> None:
        """Tell the host the import policy refused a module."""
