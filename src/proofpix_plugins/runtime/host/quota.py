"""What a plugin may keep through a broker: the storage quota and the metadata cap.

One policy for every :class:`~proofpix_plugins.runtime.host.broker.Broker`: each broker asks it
before writing, with the usage it counts in its own store, so the in-memory broker the runtime's
tests and the red team use enforces exactly what production's database broker does (the broker
contract test runs both). Sizes are JSON-encoded bytes of the values; keys do not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from proofpix_plugins.runtime.errors import CapabilityError

#: Storage keys are strings of 1 to this many characters (the database column's width).
MAX_KEY_LENGTH = 255
#: The JSON-encoded size of what one plugin keeps about one file through ``metadata.set``: one
#: call's values, and what is stored after merging them into the plugin's earlier values.
MAX_METADATA_BYTES = 64 * 1024


def encode_json(value: Any, what: str) -> bytes:
    """``value`` as JSON, or the CapabilityError a plugin sees for a value that is not JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:
        raise CapabilityError(f"{what} is not JSON-serializable") from None


def check_metadata(values: Any) -> None:
    """Refuse ``metadata.set`` values that are not an object or exceed the cap."""
    if not isinstance(values, dict):
        raise CapabilityError("metadata must be an object")
    if len(encode_json(values, "metadata")) > MAX_METADATA_BYTES:
        raise CapabilityError(f"metadata larger than {MAX_METADATA_BYTES} bytes")


def merge_metadata(stored: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """What a plugin keeps about a file after ``metadata.set(values)``, and its encoded size.

    Refuses a merge whose result exceeds the cap: without this, calls under the cap one by one
    could grow the stored values without bound.
    """
    merged = {**stored, **values}
    size = len(encode_json(merged, "metadata"))
    if size > MAX_METADATA_BYTES:
        raise CapabilityError(
            f"stored metadata larger than {MAX_METADATA_BYTES} bytes for this plugin and file"
        )
    return merged, size


@dataclass(frozen=True)
class StorageQuota:
    """Per (organization, plugin): how many keys, how many bytes in all, and per value."""

    max_keys: int = 1000
    max_bytes: int = 1024 * 1024
    max_value_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        # One value can never be allowed more than the whole store.
        object.__setattr__(self, "max_value_bytes", min(self.max_value_bytes, self.max_bytes))

    @staticmethod
    def check_key(key: Any) -> None:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise CapabilityError(f"storage keys are strings of 1 to {MAX_KEY_LENGTH} characters")

    def encode(self, key: Any, value: Any) -> bytes:
        """The bytes to store for ``key``: refuses a bad key, a non-JSON or an oversized value."""
        self.check_key(key)
        raw = encode_json(value, f"storage value for {key!r}")
        if len(raw) > self.max_value_bytes:
            raise CapabilityError(
                f"storage quota: a value is at most {self.max_value_bytes} bytes"
            )
        return raw

    def admit(self, *, keys: int, used_bytes: int, old_bytes: int | None, new_bytes: int) -> None:
        """Refuse a write that would take the store past the quota.

        ``keys`` and ``used_bytes`` are the store's current totals; ``old_bytes`` is the size of
        the value being replaced, None for a new key.
        """
        if old_bytes is None and keys + 1 > self.max_keys:
            raise CapabilityError(f"storage quota: at most {self.max_keys} keys")
        if used_bytes - (old_bytes or 0) + new_bytes > self.max_bytes:
            raise CapabilityError(f"storage quota: at most {self.max_bytes} bytes")
