"""Live fan-out of plugin events to WebSocket listeners, in one process or across many.

``LocalEventHub`` delivers within the process. ``RedisEventHub`` publishes to Redis pub/sub and
delivers what its listener receives, so every API process behind a load balancer (SPEC §10)
sees every event exactly once, its own included. Subscribers get bounded queues: a slow
WebSocket drops its oldest events rather than growing memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson
import structlog

log = structlog.get_logger(__name__)

QUEUE_SIZE = 256
_CHANNEL_PREFIX = "proofpix:plugin-events:"


class EventHub(Protocol):
    async def publish(self, org_id: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, org_id: str) -> AsyncIterator[dict[str, Any]]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalEventHub:
    """In-process delivery: each subscriber of an organization gets its own queue."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def publish(self, org_id: str, event: dict[str, Any]) -> None:
        self.deliver(org_id, event)

    def deliver(self, org_id: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(org_id, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def subscriber_count(self, org_id: str) -> int:
        return len(self._subscribers.get(org_id, ()))

    async def subscribe(self, org_id: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[org_id].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[org_id].discard(queue)
            if not self._subscribers[org_id]:
                del self._subscribers[org_id]


class RedisEventHub(LocalEventHub):
    """Publishes through Redis; a listener task delivers every message to local subscribers."""

    def __init__(self, redis_url: str) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(redis_url)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="plugin-event-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._redis.aclose()
        await super().close()

    async def publish(self, org_id: str, event: dict[str, Any]) -> None:
        await self._redis.publish(_CHANNEL_PREFIX + org_id, orjson.dumps(event))

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.psubscribe(_CHANNEL_PREFIX + "*")
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "pmessage":
                    continue
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                org_id = channel[len(_CHANNEL_PREFIX):]
                try:
                    event = orjson.loads(message["data"])
                except orjson.JSONDecodeError:
                    log.warning("event_hub.bad_message", channel=channel)
                    continue
                self.deliver(org_id, event)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
