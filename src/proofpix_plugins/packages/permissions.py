"""The permission and host-hook vocabularies shared by manifests, scanner, runtime and lifecycle."""

from __future__ import annotations

from typing import Final, Literal

Permission = Literal[
    "files", "images", "metadata", "storage", "http", "crypto", "events", "secrets"
]

#: The eight permissions of SPEC §2, in the order the SPEC lists them.
PERMISSION_ORDER: Final[tuple[str, ...]] = (
    "files", "images", "metadata", "storage", "http", "crypto", "events", "secrets",
)
PERMISSIONS: Final[frozenset[str]] = frozenset(PERMISSION_ORDER)

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
