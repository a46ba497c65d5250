"""Exceptions plugin code may see from the SDK."""

from __future__ import annotations


class PluginError(Exception):
    """Root of the SDK's exceptions."""


class PermissionDenied(PluginError):
    """A capability was used without its granted permission; the host recorded the attempt."""

    def __init__(self, message: str, permission: str = "") -> None:
        """``permission``: the permission the capability needs (e.g. ``"storage"``)."""
        super().__init__(message)
        self.permission = permission


class CapabilityError(PluginError):
    """A capability was refused or failed (quota exceeded, no file for this hook, bad input)."""
