"""Permissions a plugin must hold to receive a host hook at all (SPEC §4).

One table for the hook bus, which answers ``denied`` instead of calling a plugin that lacks them,
and for the scanner's ``PPX-HOOK-PERMISSION`` rule, which tells the author before publishing.
It lives apart from the bus so the scanner can read it without importing the worker pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["HOOK_PERMISSIONS", "required_permissions"]

#: ``file:uploaded`` and ``file:process`` are about a file: delivered only to holders of ``files``.
HOOK_PERMISSIONS: Final[Mapping[str, frozenset[str]]] = {
    "file:uploaded": frozenset({"files"}),
    "file:process": frozenset({"files"}),
}


def required_permissions(hook: str) -> frozenset[str]:
    """The permissions the bus requires before it delivers ``hook`` (empty for most hooks)."""
    return HOOK_PERMISSIONS.get(hook, frozenset())
