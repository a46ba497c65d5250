"""The permission and host-hook vocabularies shared by manifests, scanner and lifecycle.

The permissions themselves are defined once, in ``runtime/limits.py`` (the runtime refuses an
unknown one at load and cannot import this package); they are re-exported here beside what only
people read: a description of each.
"""

from __future__ import annotations

from typing import Final

from proofpix_plugins.runtime.limits import PERMISSION_ORDER, PERMISSIONS, Permission

__all__ = ["HOST_HOOKS", "PERMISSIONS", "PERMISSION_DESCRIPTIONS", "PERMISSION_ORDER", "Permission"]

PERMISSION_DESCRIPTIONS: Final[dict[str, str]] = {
    "files": "read the bytes and basic info of the file the hook is about",
    "images": "decode/transform images in the sandbox (Pillow) and return a derived image",
    "metadata": "read and write the host's metadata records for the file",
    "storage": "the plugin's own key-value store, per organization, with a quota",
    "http": "outbound HTTP(S) through the host, only to network.allow hosts",
    "crypto": "hashing, HMAC, signing helpers and the cryptography package",
    "events": "emit custom events / trigger other hooks",
    "secrets": "read configuration values marked x-secret (otherwise redacted)",
}

#: Hooks the host itself fires (SPEC §4); plugins may also declare custom ``a:b`` hooks.
HOST_HOOKS: Final[frozenset[str]] = frozenset(
    {"file:uploaded", "file:process", "metadata:extracted", "proof:created", "export:before"}
)
