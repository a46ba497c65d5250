"""The publication log: appends chain, verification catches every kind of tampering."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import publog
from proofpix_plugins.models.marketplace import LogAction
from proofpix_plugins.packages.platform_key import PlatformKey
from tests.fixtures.app import new_signing_pem


def _key() -> PlatformKey:
    return PlatformKey(new_signing_pem().encode())


async def _served(factory: async_sessionmaker[AsyncSession], key: PlatformKey) -> dict[str, Any]:
    async with session_scope(factory) as session:
        rows = await publog.entries(session)
        seq, head_hash = await publog.head(session)
    return {
        "items": [publog.served(r) for r in rows],
        "head": {"seq": seq, "hash": head_hash, "signature": publog.sign_head(key, seq, head_hash)},
    }


def _verify(log: dict[str, Any], key: PlatformKey) -> list[publog.ChainProblem]:
    head = log["head"]
    return publog.verify_chain(
        log["items"], key.public_key,
        head_seq=head["seq"], head_hash=head["hash"], head_signature=head["signature"],
    )


async def _publish(factory: async_sessionmaker[AsyncSession], key: PlatformKey, n: int) -> None:
    for i in range(n):
        sha = hashlib.sha256(f"artifact {i}".encode()).hexdigest()
        async with session_scope(factory) as session:
            await publog.append(
                session, LogAction.publish, plugin_id="acme.tool", version=f"1.0.{i}",
                artifact_sha256=sha, signature=key.sign_artifact(sha), detail={"n": i},
            )


async def test_appends_chain_and_verify(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    key = _key()
    await _publish(session_factory, key, 3)
    async with session_scope(session_factory) as session:
        await publog.append(session, LogAction.yank, plugin_id="acme.tool", version="1.0.1",
                            detail={"reason": "broken"})
    log = await _served(session_factory, key)
    assert [e["seq"] for e in log["items"]] == [1, 2, 3, 4]
    assert log["items"][0]["prevHash"] == publog.GENESIS
    assert all(b["prevHash"] == a["entryHash"] for a, b in itertools.pairwise(log["items"]))
    assert _verify(log, key) == []


async def test_concurrent_appends_never_fork_the_chain(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    key = _key()
    await asyncio.gather(*(_publish(session_factory, key, 3) for _ in range(4)))
    log = await _served(session_factory, key)
    assert [e["seq"] for e in log["items"]] == list(range(1, 13))
    assert _verify(log, key) == []


async def test_a_rolled_back_transaction_leaves_no_entry(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    key = _key()
    await _publish(session_factory, key, 1)
    try:
        async with session_scope(session_factory) as session:
            await publog.append(session, LogAction.suspend, plugin_id="acme.tool")
            raise RuntimeError("the state change failed")
    except RuntimeError:
        pass
    await _publish(session_factory, key, 1)
    log = await _served(session_factory, key)
    assert [e["action"] for e in log["items"]] == ["publish", "publish"]
    assert _verify(log, key) == []


async def test_every_kind_of_tampering_is_detected(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    key = _key()
    await _publish(session_factory, key, 4)
    log = await _served(session_factory, key)
    assert _verify(log, key) == []

    edited = copy.deepcopy(log)
    edited["items"][1]["version"] = "9.9.9"
    assert any(p.seq == 2 and "contents" in p.reason for p in _verify(edited, key))

    rehashed = copy.deepcopy(log)  # edit and recompute the hash: the next link breaks
    rehashed["items"][1]["detail"] = {"n": 99}
    rehashed["items"][1]["entryHash"] = publog.hash_entry(rehashed["items"][1])
    assert any(p.seq == 3 and "previous" in p.reason for p in _verify(rehashed, key))

    dropped = copy.deepcopy(log)
    del dropped["items"][2]
    assert _verify(dropped, key)

    truncated = copy.deepcopy(log)  # the tail cut off: the signed head no longer matches
    del truncated["items"][-1]
    assert any("head" in p.reason for p in _verify(truncated, key))

    forged = copy.deepcopy(log)  # a valid-looking signature from another key
    sha = forged["items"][0]["artifactSha256"]
    forged["items"][0]["signature"] = _key().sign_artifact(sha)
    assert any("signature" in p.reason for p in _verify(forged, key))

    resigned_head = copy.deepcopy(log)  # a whole rewritten chain, head signed by another key
    other = _key()
    resigned_head["head"]["signature"] = publog.sign_head(
        other, log["head"]["seq"], log["head"]["hash"])
    assert any("head signature" in p.reason for p in _verify(resigned_head, key))
