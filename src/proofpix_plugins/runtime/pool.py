"""The worker pool: one warm, hardened worker process per (organization, plugin).

SKELETON: signatures are the agreed interface; bodies land in following commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from proofpix_plugins.runtime.broker import Broker
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError, NotLoaded, PoolClosed
from proofpix_plugins.runtime.outcome import CallOutcome, LiveWorker, SandboxReport
from proofpix_plugins.runtime.spec import CallInfo, PluginSpec

__all__ = [
    "CallOutcome",
    "HookCaller",
    "LiveWorker",
    "LoadError",
    "NotLoaded",
    "PoolClosed",
    "SandboxReport",
    "WorkerPool",
]

#: How a plugin's ``ctx.events.call(hook, data)`` reaches the hook bus: the bus registers one
#: with :meth:`WorkerPool.set_hook_caller`; ``info.depth`` is already the nested depth.
HookCaller = Callable[[CallInfo, str, Any], Awaitable[Any]]


class WorkerPool:
    def __init__(self, config: RuntimeConfig, broker: Broker) -> None:
        self.config = config
        self.broker = broker

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def sandbox_report(self) -> SandboxReport:
        raise NotImplementedError

    def set_hook_caller(self, caller: HookCaller | None) -> None:
        raise NotImplementedError

    async def load(self, spec: PluginSpec) -> None:
        raise NotImplementedError

    async def unload(self, org_id: str, plugin_id: str) -> None:
        raise NotImplementedError

    async def update_config(
        self, org_id: str, plugin_id: str, config: Mapping[str, Any]
    ) -> None:
        raise NotImplementedError

    async def call(
        self,
        key: tuple[str, str],
        hook: str,
        data: Any,
        *,
        timeout_ms: int,
        info: CallInfo,
    ) -> CallOutcome:
        raise NotImplementedError

    def is_loaded(self, org_id: str, plugin_id: str) -> bool:
        raise NotImplementedError

    def spec_of(self, org_id: str, plugin_id: str) -> PluginSpec | None:
        raise NotImplementedError

    def live_workers(self) -> list[LiveWorker]:
        raise NotImplementedError
