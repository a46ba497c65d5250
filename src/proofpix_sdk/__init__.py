"""Plugin SDK: what plugin code imports inside the sandbox.

Standard library only; it never imports ``proofpix_plugins``. Capabilities are requests to the
host, which checks the plugin's granted permissions on every one.
"""

from __future__ import annotations

from proofpix_sdk.context import HookContext
from proofpix_sdk.errors import CapabilityError, PermissionDenied, PluginError
from proofpix_sdk.http import HttpResponse
from proofpix_sdk.plugin import Plugin

__all__ = [
    "CapabilityError",
    "HookContext",
    "HttpResponse",
    "PermissionDenied",
    "Plugin",
    "PluginError",
]
