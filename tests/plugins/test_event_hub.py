"""Event hubs: per-organization delivery, bounded queues, unsubscribe; Redis fan-out between
processes (two hubs, then two app instances) against the real Redis."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from proofpix_plugins.plugins.event_hub import (
    QUEUE_SIZE,
    LocalEventHub,
    RedisEventHub,
    Subscription,
    TooManySubscribers,
)
from tests.fixtures.app import StartApp, build_test_settings, client_for, create_test_user
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk

WAIT = 5.0  # seconds: an upper bound for something that should happen at once
QUIET = 0.5  # seconds: how long "nothing arrives" is watched


def org() -> str:
    return str(uuid.uuid4())


def ev(n: int | str) -> dict[str, Any]:
    return {"type": "custom", "pluginId": "acme.test", "details": {"n": n}}


async def next_event(sub: Subscription) -> dict[str, Any]:
    return await asyncio.wait_for(anext(sub), WAIT)


async def assert_nothing_until(sub: Subscription, hub: LocalEventHub, marker: dict[str, Any]
                               ) -> None:
    """Publish ``marker`` to ``sub``'s organization: it must be the very next thing it sees."""
    await hub.publish(sub.org_id, marker)
    assert await next_event(sub) == marker


# -- LocalEventHub -------------------------------------------------------------------------

async def test_local_event_reaches_every_subscriber_of_its_organization_only() -> None:
    hub = LocalEventHub()
    a, b = org(), org()
    with hub.subscribe(a) as a1, hub.subscribe(a) as a2, hub.subscribe(b) as b1:
        await hub.publish(a, ev(1))
        assert await next_event(a1) == ev(1)
        assert await next_event(a2) == ev(1)
        await assert_nothing_until(b1, hub, ev("b-marker"))


async def test_local_event_published_before_first_read_is_not_lost() -> None:
    hub = LocalEventHub()
    a = org()
    sub = hub.subscribe(a)
    # Registered on creation: an event published before anyone awaits the stream is kept.
    await hub.publish(a, ev(1))
    assert await next_event(sub) == ev(1)
    sub.close()


async def test_local_events_arrive_in_publication_order() -> None:
    hub = LocalEventHub()
    a = org()
    with hub.subscribe(a) as sub:
        for n in range(10):
            await hub.publish(a, ev(n))
        assert [(await next_event(sub))["details"]["n"] for _ in range(10)] == list(range(10))


async def test_full_queue_drops_the_oldest_events_and_counts_them() -> None:
    hub = LocalEventHub()
    a = org()
    with hub.subscribe(a) as sub:
        for n in range(QUEUE_SIZE + 3):
            await hub.publish(a, ev(n))
        assert sub.dropped == 3
        assert await next_event(sub) == ev(3)
        rest = [await next_event(sub) for _ in range(QUEUE_SIZE - 1)]
        assert rest[-1] == ev(QUEUE_SIZE + 2)


async def test_slow_subscriber_does_not_hold_back_a_fast_one() -> None:
    hub = LocalEventHub()
    a = org()
    with hub.subscribe(a) as slow, hub.subscribe(a) as fast:
        for n in range(QUEUE_SIZE * 2):
            await hub.publish(a, ev(n))
            assert await next_event(fast) == ev(n)
        assert fast.dropped == 0
        assert slow.dropped == QUEUE_SIZE


async def test_closed_subscription_is_unregistered_and_ends_iteration() -> None:
    hub = LocalEventHub()
    a = org()
    sub = hub.subscribe(a)
    assert hub.subscriber_count(a) == 1
    sub.close()
    assert hub.subscriber_count(a) == 0
    await hub.publish(a, ev(1))
    assert [e async for e in sub] == []


async def test_closing_wakes_a_reader_blocked_on_an_empty_stream() -> None:
    hub = LocalEventHub()
    a = org()
    sub = hub.subscribe(a)
    reader = asyncio.create_task(anext(sub, None))
    await asyncio.sleep(0.01)
    assert not reader.done()
    await sub.aclose()
    assert await asyncio.wait_for(reader, WAIT) is None
    assert hub.subscriber_count(a) == 0


async def test_closing_the_hub_ends_every_stream() -> None:
    hub = LocalEventHub()
    a, b = org(), org()
    subs = [hub.subscribe(a), hub.subscribe(a), hub.subscribe(b)]

    async def drain(sub: Subscription) -> list[dict[str, Any]]:
        return [e async for e in sub]

    readers = [asyncio.create_task(drain(s)) for s in subs]
    await hub.publish(a, ev(1))
    await asyncio.sleep(0.01)
    await hub.close()
    results = await asyncio.wait_for(asyncio.gather(*readers), WAIT)
    assert results == [[ev(1)], [ev(1)], []]
    assert hub.subscriber_count(a) == hub.subscriber_count(b) == 0


async def test_subscriber_left_by_a_break_in_async_for_is_removed_by_its_context() -> None:
    hub = LocalEventHub()
    a = org()
    await hub.publish(a, ev(0))  # nobody listens: dropped, nothing kept for the organization
    with hub.subscribe(a) as sub:
        await hub.publish(a, ev(1))
        async for _event in sub:
            break
    assert hub.subscriber_count(a) == 0


async def test_listeners_past_the_per_organization_cap_are_refused_until_one_leaves() -> None:
    hub = LocalEventHub(max_subscribers_per_org=2)
    a, b = org(), org()
    first, second = hub.subscribe(a), hub.subscribe(a)
    with pytest.raises(TooManySubscribers, match="2 live listeners"):
        hub.subscribe(a)
    assert hub.subscriber_count(a) == 2
    other = hub.subscribe(b)  # the cap is per organization
    first.close()
    third = hub.subscribe(a)
    await hub.publish(a, ev(1))
    assert await next_event(second) == ev(1)
    assert await next_event(third) == ev(1)
    for sub in (second, third, other):
        sub.close()


# -- RedisEventHub (real Redis) ------------------------------------------------------------

@pytest.fixture
async def two_hubs(redis_url: str) -> AsyncIterator[tuple[RedisEventHub, RedisEventHub]]:
    """Two hubs on the same Redis, as two API processes behind a load balancer would have."""
    one, two = RedisEventHub(redis_url), RedisEventHub(redis_url)
    await one.start()
    try:
        await two.start()
        try:
            yield one, two
        finally:
            await two.close()
    finally:
        await one.close()


async def test_redis_event_reaches_subscribers_of_both_hubs_exactly_once(
    two_hubs: tuple[RedisEventHub, RedisEventHub],
) -> None:
    one, two = two_hubs
    a = org()
    with one.subscribe(a) as on_one, two.subscribe(a) as on_two:
        await one.publish(a, ev(1))
        assert await next_event(on_one) == ev(1)
        assert await next_event(on_two) == ev(1)
        # A duplicate would arrive before the marker published after it.
        await assert_nothing_until(on_one, one, ev("marker"))
        assert await next_event(on_two) == ev("marker")


async def test_redis_event_does_not_reach_other_organizations(
    two_hubs: tuple[RedisEventHub, RedisEventHub],
) -> None:
    one, two = two_hubs
    a, b = org(), org()
    with two.subscribe(a) as on_a, two.subscribe(b) as on_b, one.subscribe(b) as on_b_one:
        await one.publish(a, ev(1))
        assert await next_event(on_a) == ev(1)
        await assert_nothing_until(on_b, two, ev("b-marker"))
        assert await next_event(on_b_one) == ev("b-marker")


async def test_redis_hub_ignores_messages_that_are_not_event_objects(
    two_hubs: tuple[RedisEventHub, RedisEventHub], redis_url: str
) -> None:
    _, two = two_hubs
    a = org()
    raw = aioredis.Redis.from_url(redis_url)
    try:
        with two.subscribe(a) as sub:
            await raw.publish(f"proofpix:plugin-events:{a}", b"{not json")
            await raw.publish(f"proofpix:plugin-events:{a}", b"[1, 2]")
            await two.publish(a, ev("after"))
            assert await next_event(sub) == ev("after")
    finally:
        await raw.aclose()


async def test_redis_hub_resubscribes_after_redis_drops_its_connection(
    two_hubs: tuple[RedisEventHub, RedisEventHub], redis_url: str
) -> None:
    one, two = two_hubs
    a = org()
    admin = aioredis.Redis.from_url(redis_url)
    try:
        clients = await admin.client_list(_type="pubsub")
        mine = [c for c in clients if c.get("name") == two.client_name]
        assert len(mine) == 1, clients
        before = two.delivery_generation()
        assert before is not None
        await admin.client_kill_filter(_id=mine[0]["id"])
        with two.subscribe(a) as sub:
            # Pub/sub keeps nothing for an absent listener: publish until the new one hears.
            async def keep_publishing() -> None:
                while True:
                    await one.publish(a, ev("back"))
                    await asyncio.sleep(0.05)

            publisher = asyncio.create_task(keep_publishing())
            try:
                assert await next_event(sub) == ev("back")
                assert two.reconnects >= 1
                # Events published while it was away were lost: the generation says so.
                assert two.delivery_generation() not in (None, before)
            finally:
                publisher.cancel()
                await asyncio.gather(publisher, return_exceptions=True)
    finally:
        await admin.aclose()


async def test_redis_hub_start_fails_clearly_when_redis_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        hub = RedisEventHub(f"redis://127.0.0.1:{port}/0", start_timeout=0.5)
        with pytest.raises(RuntimeError, match="Redis did not confirm"):
            await hub.start()
    assert hub.subscriber_count(org()) == 0


# -- two app instances on one Redis --------------------------------------------------------

async def test_event_caused_through_one_app_reaches_a_subscriber_on_another(
    sqlite_db_url: str, data_dir: Path, redis_url: str, start_app: StartApp,
) -> None:
    first = build_test_settings(sqlite_db_url, data_dir / "one", redis_url=redis_url,
                                plugin_metrics_flush_seconds=3600)
    # Another process: its own data dir and workers, the same database, secret and Redis.
    second = first.model_copy(update={"data_dir": data_dir / "two"})
    async with start_app(first, platform=True) as app_one, \
            start_app(second, platform=True) as app_two:
        admin = await create_test_user(app_one, tier="enterprise", role="admin")
        hub_two: RedisEventHub = app_two.state.event_hub
        assert isinstance(hub_two, RedisEventHub)
        with hub_two.subscribe(str(admin.principal.org_id)) as sub:
            await install_small_plugin(app_one, admin.headers, data_dir, "acme.fanout")
            event = await next_event(sub)
    assert event["type"] == "installed"
    assert event["pluginId"] == "acme.fanout"
    assert event["actorUserId"] == str(admin.principal.user_id)


async def install_small_plugin(app: FastAPI, headers: dict[str, str], where: Path,
                               plugin_id: str) -> None:
    pkgs = where / "packages"
    pkgs.mkdir(exist_ok=True)
    source = '''
    from proofpix_sdk import HookContext, Plugin

    plugin = Plugin()


    @plugin.hook("custom:ping")
    def ping(event: dict, ctx: HookContext) -> dict:
        return {"ok": True}
    '''
    meta = mk(plugin_id, hooks=[{"name": "custom:ping", "handler": "ping"}])
    ppx = build_ppx(pkgs, meta, source)
    async with client_for(app) as api:
        r = await api.post("/api/plugins/install", headers=headers,
                           files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
    assert r.status_code == 201, r.text
