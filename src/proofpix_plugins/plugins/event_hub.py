"""Live fan-out of plugin events to WebSocket listeners, in one process or across many.

``LocalEventHub`` delivers within the process. ``RedisEventHub`` publishes to Redis pub/sub and
delivers what its listener receives, so every API process behind a load balancer (SPEC §10)
sees every event exactly once, its own included. Subscribers get bounded queues: a slow
WebSocket drops its oldest events rather than growing memory without bound.

Beside the events, the hub carries state announcements (``announce`` / ``on_announce``): "the
plugin state clock reached generation N", published after a desired-state change commits, so
that every process reconciles at once (``plugins/convergence.py``). They are hints only: a
process that misses one still sees the clock move at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

QUEUE_SIZE = 256
#: Live listeners one organization may hold on one node (each costs a queue and a socket).
MAX_SUBSCRIBERS_PER_ORG = 200
_CHANNEL_PREFIX = "proofpix:plugin-events:"
_STATE_CHANNEL = "proofpix:plugin-state"
_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0


class TooManySubscribers(Exception):
    """The organization already holds the most live listeners a node allows."""


class Subscription:
    """One listener's stream of an organization's events.

    Registered with the hub when created, not on first iteration, so that nothing published
    between ``subscribe()`` and the first ``await`` is lost. Ends when closed, or when the hub
    closes (server shutdown), so that no reader waits forever.
    """

    def __init__(self, hub: LocalEventHub, org_id: str, maxsize: int = QUEUE_SIZE) -> None:
        self.org_id = org_id
        #: Events thrown away because this listener fell ``maxsize`` events behind.
        self.dropped = 0
        self._hub = hub
        # ``None`` marks the end of the stream.
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize)
        self._closed = False
        hub._register(self)

    def offer(self, item: dict[str, Any] | None) -> None:
        """Queue without waiting; when full, the oldest event makes room."""
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self.dropped += 1
        self._queue.put_nowait(item)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self._closed = True
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._unregister(self)
            # Wake a reader blocked in ``__anext__``.
            self.offer(None)

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Called with each state announcement; runs on the event loop and must not block.
AnnounceListener = Callable[[dict[str, Any]], None]


class EventHub(Protocol):
    async def publish(self, org_id: str, event: dict[str, Any]) -> None: ...

    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None: ...

    def delivery_generation(self) -> int | None: ...

    async def announce(self, change: dict[str, Any]) -> None: ...

    def on_announce(self, listener: AnnounceListener) -> None: ...

    def subscribe(self, org_id: str) -> Subscription: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalEventHub:
    """In-process delivery: each subscriber of an organization gets its own queue."""

    def __init__(self, *, max_subscribers_per_org: int = MAX_SUBSCRIBERS_PER_ORG) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._announce_listeners: list[AnnounceListener] = []
        self.max_subscribers_per_org = max_subscribers_per_org
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``listener(org_id, event)`` for every event delivered in this process, of every
        organization, before subscribers see it (caches drop what the event changed)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()
        self._subscribers.clear()

    async def publish(self, org_id: str, event: dict[str, Any]) -> None:
        self.deliver(org_id, event)

    def delivery_generation(self) -> int | None:
        """None: what other processes publish never arrives here (in-process delivery only)."""
        return None

    def deliver(self, org_id: str, event: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(org_id, event)
            except Exception:
                log.exception("event_hub.listener_failed")
        for sub in list(self._subscribers.get(org_id, ())):
            sub.offer(event)

    async def announce(self, change: dict[str, Any]) -> None:
        self.deliver_announcement(change)

    def on_announce(self, listener: AnnounceListener) -> None:
        self._announce_listeners.append(listener)

    def deliver_announcement(self, change: dict[str, Any]) -> None:
        for listener in list(self._announce_listeners):
            try:
                listener(change)
            except Exception:
                log.exception("event_hub.announce_listener_failed")

    def subscriber_count(self, org_id: str) -> int:
        return len(self._subscribers.get(org_id, ()))

    def subscribe(self, org_id: str) -> Subscription:
        """A new listener; ``TooManySubscribers`` when the organization is at its cap."""
        if self.subscriber_count(org_id) >= self.max_subscribers_per_org:
            raise TooManySubscribers(
                f"this organization already has {self.max_subscribers_per_org} live listeners"
            )
        return Subscription(self, org_id)

    def _register(self, sub: Subscription) -> None:
        self._subscribers[sub.org_id].add(sub)

    def _unregister(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.org_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.org_id]


class RedisEventHub(LocalEventHub):
    """Publishes through Redis; a listener task delivers every message to local subscribers.

    The listener reconnects (with backoff) when Redis drops the connection; events published
    while it is away are lost, as pub/sub does not keep them (the ``plugin_events`` table does).
    """

    def __init__(
        self, redis_url: str, *, start_timeout: float = 5.0,
        max_subscribers_per_org: int = MAX_SUBSCRIBERS_PER_ORG,
    ) -> None:
        super().__init__(max_subscribers_per_org=max_subscribers_per_org)
        #: Names this hub's connections in Redis ``CLIENT LIST``, to tell the nodes apart.
        self.client_name = f"proofpix-events-{uuid.uuid4().hex[:12]}"
        self._redis = aioredis.Redis.from_url(redis_url, client_name=self.client_name)
        self._start_timeout = start_timeout
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._subscribed = False
        #: Times the listener started over after losing (or failing to reach) Redis.
        self.reconnects = 0
        # Times the listener lost its subscription (events published then were lost).
        self._losses = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="plugin-event-listener")
        try:
            # Ready means Redis confirmed the subscription, so no later publish can be missed.
            await asyncio.wait_for(self._ready.wait(), timeout=self._start_timeout)
        except TimeoutError:
            await self.close()
            raise RuntimeError(
                f"event hub: Redis did not confirm the subscription within "
                f"{self._start_timeout:g} s (check redis_url and that Redis is reachable)"
            ) from None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._redis.aclose()
        await super().close()

    async def publish(self, org_id: str, event: dict[str, Any]) -> None:
        await self._redis.publish(_CHANNEL_PREFIX + org_id, orjson.dumps(event))

    def delivery_generation(self) -> int | None:
        """None while the listener is not subscribed (what is published now is lost to this
        process); otherwise a number that changes whenever the subscription was lost."""
        return self._losses if self._subscribed else None

    async def announce(self, change: dict[str, Any]) -> None:
        await self._redis.publish(_STATE_CHANNEL, orjson.dumps(change))

    async def _listen(self) -> None:
        delay = _RETRY_FIRST
        while True:
            self._subscribed = False
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                log.warning("event_hub.redis_lost", error=f"{type(exc).__name__}: {exc}")
            except Exception:
                # Never die silently: a dead listener would mean every node goes deaf.
                log.exception("event_hub.listener_failed")
            # From now until the next subscription, what is published never arrives here.
            was_subscribed, self._subscribed = self._subscribed, False
            self._losses += 1
            # A connection that worked resets the backoff; one that never came up grows it.
            if was_subscribed:
                delay = _RETRY_FIRST
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
            self.reconnects += 1

    async def _listen_once(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            # Confirmed in this order, so ready (psubscribe) covers the state channel too.
            await pubsub.subscribe(_STATE_CHANNEL)
            await pubsub.psubscribe(_CHANNEL_PREFIX + "*")
            async for message in pubsub.listen():
                kind = message.get("type")
                if kind == "psubscribe":
                    self._subscribed = True
                    self._ready.set()
                    continue
                if kind == "message":
                    self._announcement(message["data"])
                    continue
                if kind != "pmessage":
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
                if not isinstance(event, dict):
                    log.warning("event_hub.bad_message", channel=channel)
                    continue
                self.deliver(org_id, event)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _announcement(self, data: Any) -> None:
        try:
            change = orjson.loads(data)
        except orjson.JSONDecodeError:
            change = None
        if not isinstance(change, dict):
            log.warning("event_hub.bad_message", channel=_STATE_CHANNEL)
            return
        self.deliver_announcement(change)
