"""Host-side capability dispatch: check the permission, validate the arguments, call the broker.

This is the enforcement point. The SDK's methods are only a convenience: whatever a worker
sends, a capability runs only if the plugin's spec (granted AND requested) holds the
permission, and a refusal is recorded as a ``permission_denied`` event before the plugin sees
PermissionDenied.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import orjson
import structlog

from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.runtime.errors import CapabilityDenied, CapabilityError
from proofpix_plugins.runtime.host.broker import Broker
from proofpix_plugins.runtime.limits import (
    CAP_REQUESTS_PER_CALL,
    CRYPTO_INLINE_BYTES,
    CRYPTO_MAX_BYTES,
    DENIED_EVENTS_PER_CALL,
    HOOK_NAME_MAX_LENGTH,
)
from proofpix_plugins.runtime.sandbox import wire
from proofpix_plugins.runtime.spec import CallBudget, CallInfo, PluginSpec

log = structlog.get_logger("proofpix.runtime.capabilities")

#: How a plugin's ``ctx.events.call(hook, data)`` reaches the hook bus: the bus registers one
#: with :meth:`WorkerPool.set_hook_caller`. ``info`` is the CALLER's CallInfo (same call_id)
#: with ``depth`` already incremented; raise CapabilityError/CapabilityDenied to refuse.
HookCaller = Callable[[CallInfo, str, Any], Awaitable[Any]]

Key = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
MAX_BLOB = 32 * 1024 * 1024
Blob = Annotated[bytes, msgspec.Meta(max_length=MAX_BLOB)]
#: Input of the crypto capabilities (hashed on the host: see CRYPTO_INLINE_BYTES).
CryptoBlob = Annotated[bytes, msgspec.Meta(max_length=CRYPTO_MAX_BYTES)]


class _NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    pass


class _StorageKey(msgspec.Struct, forbid_unknown_fields=True):
    key: Key


class _StorageSet(msgspec.Struct, forbid_unknown_fields=True):
    key: Key
    value: Any


class _MetadataSet(msgspec.Struct, forbid_unknown_fields=True):
    values: dict[Annotated[str, msgspec.Meta(max_length=256)], Any]


class _SaveDerived(msgspec.Struct, forbid_unknown_fields=True):
    data: Blob
    content_type: Annotated[str, msgspec.Meta(pattern=r"^image/[a-z0-9.+-]{1,40}$")]


class _Http(msgspec.Struct, forbid_unknown_fields=True):
    method: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = {}
    timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] | None = None


class _Hash(msgspec.Struct, forbid_unknown_fields=True):
    data: CryptoBlob


class _Hmac(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[bytes, msgspec.Meta(max_length=4096)]
    msg: CryptoBlob


class _Random(msgspec.Struct, forbid_unknown_fields=True):
    n: Annotated[int, msgspec.Meta(ge=0, le=1024 * 1024)]


class _Emit(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)*$",
                                      max_length=100)]
    data: Any = None


class _CallHook(msgspec.Struct, forbid_unknown_fields=True):
    # The bus checks the full hook-name rule; the cap here refuses a huge string before it.
    hook: Annotated[str, msgspec.Meta(min_length=1, max_length=HOOK_NAME_MAX_LENGTH)]
    data: Any = None


class _SecretKey(msgspec.Struct, forbid_unknown_fields=True):
    key: Key


@dataclass(frozen=True)
class _Cap:
    permissions: tuple[str, ...]
    args: type[msgspec.Struct]


#: Every capability a worker may request, the permissions it needs, and its argument schema.
CAPABILITIES: dict[str, _Cap] = {
    "files.read": _Cap(("files",), _NoArgs),
    "files.info": _Cap(("files",), _NoArgs),
    "images.open": _Cap(("images", "files"), _NoArgs),
    "images.save_derived": _Cap(("images",), _SaveDerived),
    "metadata.get": _Cap(("metadata",), _NoArgs),
    "metadata.set": _Cap(("metadata",), _MetadataSet),
    "storage.get": _Cap(("storage",), _StorageKey),
    "storage.set": _Cap(("storage",), _StorageSet),
    "storage.delete": _Cap(("storage",), _StorageKey),
    "storage.keys": _Cap(("storage",), _NoArgs),
    "http.request": _Cap(("http",), _Http),
    "crypto.sha256": _Cap(("crypto",), _Hash),
    "crypto.hmac_sha256": _Cap(("crypto",), _Hmac),
    "crypto.random_bytes": _Cap(("crypto",), _Random),
    "events.emit": _Cap(("events",), _Emit),
    "events.call": _Cap(("events",), _CallHook),
    "secrets.get": _Cap(("secrets",), _SecretKey),
}


#: Custom events one call may emit: a plugin must not flood the events table or live listeners.
MAX_EMITS_PER_CALL = 100
MAX_EMIT_BYTES = 16 * 1024
MAX_EMIT_BYTES_PER_CALL = 256 * 1024

_MiB = 1024 * 1024
#: Per capability, the requests and argument bytes one top-level call (nested calls included)
#: may spend; None: no bytes budget (the reply or the broker's quota bounds it). Past either,
#: the request is refused as the plugin's error. All of them together are also capped at
#: CAP_REQUESTS_PER_CALL. images.save_derived's quota is the derived-image store's.
BUDGETS: dict[str, tuple[int, int | None]] = {
    "files.read": (50, None),
    "files.info": (200, None),
    "images.open": (50, None),
    "images.save_derived": (CAP_REQUESTS_PER_CALL, None),
    "metadata.get": (200, None),
    "metadata.set": (100, 1 * _MiB),
    "storage.get": (1000, None),
    "storage.set": (1000, 4 * _MiB),
    "storage.delete": (1000, None),
    "storage.keys": (100, None),
    "http.request": (20, 16 * _MiB),
    "crypto.sha256": (500, 16 * _MiB),
    "crypto.hmac_sha256": (500, 16 * _MiB),
    "crypto.random_bytes": (500, 4 * _MiB),
    "events.emit": (MAX_EMITS_PER_CALL, MAX_EMIT_BYTES_PER_CALL),
    "events.call": (20, None),
    "secrets.get": (100, None),
}


@dataclass
class CallCounters:
    """Per-call resource use reported in the CallOutcome (the budgets are in CallBudget)."""

    http_calls: int = 0
    storage_bytes: int = 0


def _spend(budget: CallBudget, cap: str, nbytes: int) -> None:
    """Charge ``nbytes`` of ``cap``'s bytes budget; refuse past it (nothing is charged then)."""
    limit = BUDGETS[cap][1]
    spent = budget.caps.setdefault(cap, [0, 0])
    if limit is not None and spent[1] + nbytes > limit:
        raise CapabilityError(f"at most {limit} bytes per call (this one has used {spent[1]})")
    spent[1] += nbytes


async def _digest(key: bytes | None, data: bytes) -> str:
    """sha256 or HMAC-sha256; in a thread above CRYPTO_INLINE_BYTES (hashlib drops the GIL)."""

    def run() -> str:
        if key is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    if len(data) <= CRYPTO_INLINE_BYTES:
        return run()
    return await asyncio.to_thread(run)


class CapabilityHost:
    """Serves one worker's capability requests for the call in flight."""

    def __init__(
        self,
        broker: Broker,
        *,
        http_test_allow_loopback: tuple[str, ...] = (),
        hook_caller: Callable[[], HookCaller | None] = lambda: None,
    ) -> None:
        self.broker = broker
        self.http_test_allow_loopback = http_test_allow_loopback
        self._hook_caller = hook_caller

    async def handle(
        self, spec: PluginSpec, info: CallInfo, req: wire.CapRequest, counters: CallCounters
    ) -> wire.CapReply:
        budget = info.budget
        budget.requests += 1
        if budget.requests > CAP_REQUESTS_PER_CALL:
            return wire.CapReply(id=req.id, ok=False, kind="error",
                                 message=f"{req.cap}: at most {CAP_REQUESTS_PER_CALL} "
                                 "capability requests per call")
        cap = CAPABILITIES.get(req.cap)
        if cap is None:
            return wire.CapReply(id=req.id, ok=False, kind="error",
                                 message=f"unknown capability {req.cap!r}")
        missing = [p for p in cap.permissions if p not in spec.permissions]
        if missing:
            await self._record_denied(spec, info, req.cap, missing[0])
            return wire.CapReply(
                id=req.id, ok=False, kind="denied", permission=missing[0],
                message=f"{req.cap} needs the {missing[0]!r} permission",
            )
        spent = budget.caps.setdefault(req.cap, [0, 0])
        if spent[0] >= BUDGETS[req.cap][0]:
            return wire.CapReply(id=req.id, ok=False, kind="error",
                                 message=f"{req.cap}: at most {BUDGETS[req.cap][0]} requests "
                                 "per call")
        spent[0] += 1
        try:
            args = msgspec.convert(req.args, cap.args)
        except msgspec.ValidationError as exc:
            return wire.CapReply(id=req.id, ok=False, kind="error",
                                 message=f"{req.cap}: bad arguments: {exc}")
        try:
            value = await self._run(spec, info, req.cap, args, counters)
        except CapabilityDenied as exc:
            await self._record_denied(spec, info, req.cap, "events")
            return wire.CapReply(id=req.id, ok=False, kind="denied", message=exc.detail)
        except ProofPixError as exc:
            return wire.CapReply(id=req.id, ok=False, kind="error",
                                 message=f"{req.cap}: {exc}"[:4000])
        except Exception as exc:
            log.exception("capability failed", cap=req.cap, plugin=spec.plugin_id)
            return wire.CapReply(id=req.id, ok=False, kind="error",
                                 message=f"{req.cap} failed on the host ({type(exc).__name__})")
        return wire.CapReply(id=req.id, ok=True, value=value)

    async def _record_denied(
        self, spec: PluginSpec, info: CallInfo, cap: str, permission: str
    ) -> None:
        budget = info.budget
        if budget.denied_recorded >= DENIED_EVENTS_PER_CALL:
            # Counted; the hook bus records them as one event when the top-level call ends.
            budget.denied_dropped += 1
            return
        budget.denied_recorded += 1
        await self.record(
            spec, "permission_denied",
            {"capability": cap, "permission": permission, "hook": info.hook,
             "callId": info.call_id},
        )

    async def record(self, spec: PluginSpec, event_type: str, details: dict[str, Any]) -> None:
        try:
            await self.broker.record_event(spec.org_id, spec.plugin_id, event_type, details)
        except Exception:
            log.exception("could not record event", event_type=event_type, plugin=spec.plugin_id)

    async def _run(
        self, spec: PluginSpec, info: CallInfo, cap: str, args: Any, counters: CallCounters
    ) -> Any:
        b = self.broker
        org, pid = spec.org_id, spec.plugin_id
        match cap:
            case "files.read" | "images.open":
                return await b.read_file(info)
            case "files.info":
                return await b.file_info(info)
            case "images.save_derived":
                return await b.store_derived_image(info, args.data, args.content_type)
            case "metadata.get":
                return await b.metadata_get(info)
            case "metadata.set":
                _spend(info.budget, cap, len(_require_json(args.values, "metadata.set values")))
                await b.metadata_set(info, dict(args.values))
                return None
            case "storage.get":
                return await b.storage_get(org, pid, args.key)
            case "storage.set":
                size = len(_require_json(args.value, f"storage value for {args.key!r}"))
                _spend(info.budget, cap, size)
                await b.storage_set(org, pid, args.key, args.value)
                counters.storage_bytes += size
                return None
            case "storage.delete":
                await b.storage_delete(org, pid, args.key)
                return None
            case "storage.keys":
                return await b.storage_keys(org, pid)
            case "http.request":
                body = len(args.body or b"") + len(orjson.dumps(args.json) if args.json else b"")
                _spend(info.budget, cap, body)
                counters.http_calls += 1
                return await self._http(spec, args)
            case "crypto.sha256":
                _spend(info.budget, cap, len(args.data))
                return await _digest(None, args.data)
            case "crypto.hmac_sha256":
                _spend(info.budget, cap, len(args.msg))
                return await _digest(args.key, args.msg)
            case "crypto.random_bytes":
                _spend(info.budget, cap, args.n)
                return os.urandom(args.n)
            case "events.emit":
                size = len(_require_json(args.data, "events.emit data"))
                if size > MAX_EMIT_BYTES:
                    raise CapabilityError(f"events.emit: data larger than {MAX_EMIT_BYTES} bytes")
                _spend(info.budget, cap, size)
                await b.emit_event(info, args.name, args.data)
                return None
            case "events.call":
                caller = self._hook_caller()
                if caller is None:
                    raise CapabilityError("events.call: no hook bus is attached to this runtime")
                return await caller(dataclasses.replace(info, depth=info.depth + 1), args.hook,
                                    args.data)
            case "secrets.get":
                if args.key not in spec.secret_keys:
                    raise CapabilityError(f"{args.key!r} is not a secret config key")
                return spec.config.get(args.key)
        raise CapabilityError(f"unknown capability {cap!r}")  # pragma: no cover

    async def _http(self, spec: PluginSpec, args: _Http) -> dict[str, Any]:
        # Imported here, not at the top: egress pulls in httpx (about 0.1 s to import), which
        # only a plugin's first http request needs, so the API, the CLI and tests that never
        # make one do not pay for it. (The template never imports this module: nothing here
        # touches its preload.)
        from proofpix_plugins.runtime.egress import fetch as egress

        headers = dict(args.headers)
        body = args.body
        if args.json is not None:
            if body is not None:
                raise CapabilityError("http.request: give json or body, not both")
            body = orjson.dumps(args.json)
            headers.setdefault("content-type", "application/json")
        policy = egress.HttpPolicy(
            allow_hosts=tuple(spec.network_allow),
            test_allow_loopback=self.http_test_allow_loopback,
            timeout_s=min(args.timeout or 10.0, 30.0),
        )
        resp = await egress.fetch(policy, args.method, args.url, headers=headers, body=body)
        return {"status": resp.status, "headers": dict(resp.headers), "body": resp.body,
                "url": resp.url}


def _require_json(value: Any, what: str) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise CapabilityError(f"{what} is not JSON: {exc}") from None
