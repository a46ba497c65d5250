"""The host side of every capability that touches data: what a worker may ask the host for.

The runtime checks the plugin's permission BEFORE calling any method here; a broker only does
the I/O. The lifecycle layer implements it over the database; :class:`MemoryBroker` is the
in-memory implementation the runtime's tests and benchmarks use. A broker signals a refusal
the plugin should see (quota exceeded, no such file) by raising
:class:`~proofpix_plugins.runtime.errors.CapabilityError`; any other exception becomes a
generic capability failure in the plugin and is logged host-side.
"""

from __future__ import annotations

from typing import Any, Protocol

from proofpix_plugins.runtime.spec import CallInfo

#: Event types the runtime records through ``record_event``.
SECURITY_EVENTS: frozenset[str] = frozenset(
    {"permission_denied", "crashed", "timed_out", "disabled", "insecure_load"}
)


class Broker(Protocol):
    """Capabilities the host serves to sandboxed plugins, after the permission check."""

    async def read_file(self, call: CallInfo) -> bytes: ...

    async def file_info(self, call: CallInfo) -> dict[str, Any]: ...

    async def store_derived_image(
        self, call: CallInfo, data: bytes, content_type: str
    ) -> dict[str, Any]: ...

    async def metadata_get(self, call: CallInfo) -> dict[str, Any]: ...

    async def metadata_set(self, call: CallInfo, values: dict[str, Any]) -> None: ...

    async def storage_get(self, org_id: str, plugin_id: str, key: str) -> Any | None: ...

    async def storage_set(self, org_id: str, plugin_id: str, key: str, value: Any) -> None: ...

    async def storage_delete(self, org_id: str, plugin_id: str, key: str) -> None: ...

    async def storage_keys(self, org_id: str, plugin_id: str) -> list[str]: ...

    async def emit_event(self, call: CallInfo, name: str, data: Any) -> None: ...

    async def record_event(
        self, org_id: str, plugin_id: str, event_type: str, details: dict[str, Any]
    ) -> None: ...
