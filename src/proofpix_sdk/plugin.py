"""The ``Plugin`` object a plugin module creates and decorates its handlers with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Handler = Callable[[Any, Any], Any]
F = TypeVar("F", bound=Handler)


class Plugin:
    """Collects ``@plugin.hook(name)`` registrations.

    The manifest's ``hooks[].handler`` is the source of truth for dispatch; the decorator is an
    extra registration used by local tests and checked against the manifest at load.
    """

    def __init__(self) -> None:
        """An empty registry; create one per plugin module: ``plugin = Plugin()``."""
        self.hooks: dict[str, Handler] = {}

    def hook(self, name: str) -> Callable[[F], F]:
        """Decorator registering the function as the handler of hook ``name``.

        The handler is called as ``fn(event, ctx)`` with the JSON event and a
        :class:`~proofpix_sdk.HookContext`, and returns a JSON-compatible value. The manifest
        must declare the same hook and handler (``PPX-STRUCT-HOOK-MISMATCH`` otherwise).
        Raises ValueError for an empty name or a second, different function for the same hook.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("hook name must be a non-empty string")

        def register(fn: F) -> F:
            if name in self.hooks and self.hooks[name] is not fn:
                raise ValueError(f"hook {name!r} registered twice")
            self.hooks[name] = fn
            return fn

        return register
