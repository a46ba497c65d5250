"""Fixtures of the red-team suite: the host world (session) and a started runtime (module)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.redteam.harness import HOST_SECRET_ENV, Host, Runtime, make_host, start_runtime


@pytest.fixture(scope="session")
def host() -> Iterator[Host]:
    with make_host() as world, pytest.MonkeyPatch.context() as mp:
        # The host process holds a secret in its environment, as a real server does.
        mp.setenv(HOST_SECRET_ENV, world.canary)
        yield world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rt(host: Host) -> AsyncIterator[Runtime]:
    async with start_runtime(
        host,
        name="all-layers",
        max_frame_bytes=1024 * 1024,
        http_test_allow_loopback=("127.0.0.1", "rebind.example.com"),
    ) as runtime:
        yield runtime
