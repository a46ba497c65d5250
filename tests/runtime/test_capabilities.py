"""Every capability, with and without its permission, through real sandboxed workers.

The permission check is the host's: a plugin without the permission gets PermissionDenied
inside its handler AND the host records a ``permission_denied`` event; with it, the broker's
state really changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image
from tests.runtime.sandbox_kit import info_for, make_spec, plugin_tree, traversable_dir
from tests.waiting import eventually

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.host.quota import StorageQuota
from proofpix_plugins.runtime.limits import PERMISSIONS
from proofpix_plugins.runtime.spec import CallInfo, PluginSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = '''
from proofpix_sdk import CapabilityError, PermissionDenied, Plugin

plugin = Plugin()


def _storage(ctx, e):
    ctx.storage.set("a", [1, 2])
    return {"get": ctx.storage.get("a"), "keys": ctx.storage.keys()}


def _metadata(ctx, e):
    ctx.metadata.set({"camera": "x100"})
    return ctx.metadata.get()


def _derived(ctx, e):
    return ctx.images.save_derived(ctx.images.open().convert("L"), format="PNG")


USE = {
    "files.read": lambda ctx, e: len(ctx.files.read()),
    "files.info": lambda ctx, e: ctx.files.info()["sizeBytes"],
    "images.open": lambda ctx, e: list(ctx.images.open().size),
    "images.save_derived": _derived,
    "metadata": _metadata,
    "storage": _storage,
    "http": lambda ctx, e: ctx.http.post(e["url"], json={"hello": "host"}).json(),
    "crypto": lambda ctx, e: [ctx.crypto.sha256(b"abc"), ctx.crypto.hmac_sha256(b"k", b"m"),
                              len(ctx.crypto.random_bytes(16))],
    "events.emit": lambda ctx, e: ctx.events.emit("acme:done", {"x": 1}),
    "events.call": lambda ctx, e: ctx.events.call("acme:inner", {"y": 2}),
    "events.call_self": lambda ctx, e: ctx.events.call("acme:self", {}),
    "secrets": lambda ctx, e: ctx.secrets.get("token"),
    "secret_plain": lambda ctx, e: ctx.secrets.get("n"),
    "config": lambda ctx, e: dict(ctx.config),
    "bomb": lambda ctx, e: list(ctx.images.open().size),
}


@plugin.hook("test:use")
def use(event, ctx):
    try:
        return {"ok": USE[event["cap"]](ctx, event)}
    except PermissionDenied as exc:
        return {"denied": exc.permission, "message": str(exc)}
    except CapabilityError as exc:
        return {"error": str(exc)}


def imports(event, ctx):
    try:
        __import__(event["module"])
    except ImportError as exc:
        return {"refused": str(exc)}
    return {"imported": event["module"]}


def noisy(event, ctx):
    for i in range(event["n"]):
        ctx.log.info("noisy-line", i=i)
    return "done"
'''

HOOKS = {"test:use": "use", "test:imports": "imports", "test:noisy": "noisy"}


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        reply = json.dumps({"got": json.loads(body), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class World:
    pool: WorkerPool
    broker: MemoryBroker
    root: Path
    url: str
    nested: list[tuple[CallInfo, str, Any]]


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(http_url: str) -> AsyncIterator[World]:
    with traversable_dir("pp-caps") as base:
        broker = MemoryBroker(StorageQuota(max_keys=3, max_bytes=200))
        pool = WorkerPool(
            RuntimeConfig(base_dir=base / "rt", http_test_allow_loopback=("localhost",)), broker
        )
        await pool.start()
        nested: list[tuple[CallInfo, str, Any]] = []

        async def hook_caller(info: CallInfo, hook: str, data: Any) -> Any:
            nested.append((info, hook, data))
            if hook == "acme:self":  # straight back into the caller, as a naive bus would
                back = await pool.call((info.org_id, info.plugin_id), "test:use",
                                       {"cap": "config"}, timeout_ms=2000, info=info)
                return {"status": back.status, "error": back.error}
            return {"hook": hook, "depth": info.depth, "data": data}

        pool.set_hook_caller(hook_caller)
        img = io.BytesIO()
        Image.new("RGB", (64, 48), "red").save(img, "JPEG")
        broker.add_file("org-1", "file-1", img.getvalue())
        bomb = io.BytesIO()
        Image.new("1", (9000, 9000)).save(bomb, "PNG")  # 81 Mpx in a few KB
        broker.add_file("org-1", "bomb", bomb.getvalue(), "image/png")
        try:
            yield World(pool, broker, plugin_tree(base, "caps", SOURCE), http_url, nested)
        finally:
            await pool.close()


async def _loaded(
    world: World, plugin_id: str, permissions: frozenset[str], **kw: Any
) -> PluginSpec:
    spec = make_spec(world.root, plugin_id, HOOKS, permissions=permissions,
                     network_allow=("localhost",), **kw)
    if not world.pool.is_loaded(*spec.key):
        await world.pool.load(spec)
    return spec


async def _use(world: World, spec: PluginSpec, cap: str, **event: Any) -> Any:
    outcome = await world.pool.call(
        spec.key, "test:use", {"cap": cap, **event}, timeout_ms=5000,
        info=info_for(spec, "test:use", file_id="file-1"),
    )
    assert outcome.status == "ok", outcome.error
    return outcome.result


# (capability in the handler, capability the host sees first, permission it lacks)
DENIALS = [
    ("files.read", "files.read", "files"),
    ("files.info", "files.info", "files"),
    ("images.open", "images.open", "images"),
    ("images.save_derived", "images.open", "images"),
    ("metadata", "metadata.set", "metadata"),
    ("storage", "storage.set", "storage"),
    ("http", "http.request", "http"),
    ("crypto", "crypto.sha256", "crypto"),
    ("events.emit", "events.emit", "events"),
    ("events.call", "events.call", "events"),
    ("secrets", "secrets.get", "secrets"),
]


@pytest.mark.parametrize(("cap", "host_cap", "permission"), DENIALS)
async def test_capability_without_permission_is_denied_and_recorded(
    world: World, cap: str, host_cap: str, permission: str
) -> None:
    spec = await _loaded(world, "acme.none", frozenset())
    before = len(world.broker.events_of("acme.none", "permission_denied"))
    result = await _use(world, spec, cap, url=world.url)
    assert result["denied"] == permission
    events = world.broker.events_of("acme.none", "permission_denied")[before:]
    assert [(e.details["capability"], e.details["permission"]) for e in events] == [
        (host_cap, permission)
    ]


async def test_images_open_also_needs_files(world: World) -> None:
    spec = await _loaded(world, "acme.images-only", frozenset({"images"}))
    result = await _use(world, spec, "images.open")
    assert result["denied"] == "files"


async def test_files_read_returns_the_calls_file(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    assert (await _use(world, spec, "files.read"))["ok"] == len(world.broker.files["file-1"].data)


async def test_files_info_describes_the_calls_file(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    assert (await _use(world, spec, "files.info"))["ok"] == len(world.broker.files["file-1"].data)


async def test_files_without_a_file_is_a_capability_error(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(spec.key, "test:use", {"cap": "files.read"}, timeout_ms=5000,
                                    info=info_for(spec, "test:use", file_id=None))
    assert "not about a file" in outcome.result["error"]


async def test_images_open_decodes_in_the_sandbox(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    assert (await _use(world, spec, "images.open"))["ok"] == [64, 48]


async def test_decompression_bombs_are_refused_in_the_sandbox(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(spec.key, "test:use", {"cap": "bomb"}, timeout_ms=5000,
                                    info=info_for(spec, "test:use", file_id="bomb"))
    assert outcome.status == "ok"
    assert "image refused" in outcome.result["error"]


async def test_images_save_derived_stores_the_new_image(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    result = (await _use(world, spec, "images.save_derived"))["ok"]
    stored = world.broker.derived[-1]
    assert result["sha256"] == stored.sha256
    assert Image.open(io.BytesIO(stored.data)).mode == "L"


async def test_metadata_set_then_get_round_trips_through_the_broker(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    assert (await _use(world, spec, "metadata"))["ok"] == {
        "exif": {}, "plugins": {"acme.full": {"camera": "x100"}}}
    assert world.broker.metadata["file-1"] == {"plugins": {"acme.full": {"camera": "x100"}}}


async def test_storage_is_per_org_and_plugin(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(spec.key, "test:use", {"cap": "storage"}, timeout_ms=5000,
                                    info=info_for(spec, "test:use"))
    assert outcome.result["ok"] == {"get": [1, 2], "keys": ["a"]}
    assert outcome.storage_bytes == len(b"[1,2]")
    assert world.broker.storage[("org-1", "acme.full")]["a"] == b"[1,2]"
    assert ("org-2", "acme.full") not in world.broker.storage


async def test_storage_quota_surfaces_as_capability_error(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    roomy = world.broker.quota
    world.broker.quota = StorageQuota(max_keys=3, max_bytes=4)  # "[1,2]" is 5 bytes
    try:
        result = await _use(world, spec, "storage")
    finally:
        world.broker.quota = roomy
    assert "quota" in result["error"]


async def test_http_goes_through_the_host_to_allowed_hosts(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(
        spec.key, "test:use", {"cap": "http", "url": world.url}, timeout_ms=5000,
        info=info_for(spec, "test:use"),
    )
    assert outcome.result["ok"] == {"got": {"hello": "host"}, "path": "/hook"}
    assert outcome.http_calls == 1


async def test_http_to_a_host_outside_network_allow_is_refused(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    url = world.url.replace("localhost", "127.0.0.1")
    result = await _use(world, spec, "http", url=url)
    assert "error" in result
    assert "127.0.0.1" in result["error"] or "allow" in result["error"]


async def test_crypto_is_served_by_the_host(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    sha, mac, n = (await _use(world, spec, "crypto"))["ok"]
    assert sha == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert mac == hmac.new(b"k", b"m", hashlib.sha256).hexdigest()
    assert n == 16


async def test_events_emit_reaches_the_broker(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    await _use(world, spec, "events.emit")
    last = world.broker.emitted[-1]
    assert (last.plugin_id, last.name, last.data) == ("acme.full", "acme:done", {"x": 1})


async def test_events_call_reaches_the_hook_caller_one_level_deeper(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    result = (await _use(world, spec, "events.call"))["ok"]
    assert result == {"hook": "acme:inner", "depth": 1, "data": {"y": 2}}
    info, hook, _ = world.nested[-1]
    assert (info.plugin_id, hook, info.depth) == ("acme.full", "acme:inner", 1)


async def test_a_nested_call_back_into_the_waiting_plugin_is_refused_at_once(
    world: World,
) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    started = asyncio.get_running_loop().time()
    result = (await _use(world, spec, "events.call_self"))["ok"]
    assert result == {"status": "error",
                      "error": "acme.full is busy: re-entrant hook call refused"}
    # The bound is the behaviour ("at once", not after waiting out the call's 5 s deadline);
    # generous for a loaded machine.
    assert asyncio.get_running_loop().time() - started < 4.0


async def test_secrets_are_redacted_in_config_without_the_permission(world: World) -> None:
    spec = await _loaded(world, "acme.nosecret", frozenset(), config={"token": "s3cr3t", "n": 1},
                         secret_keys=frozenset({"token"}))
    assert (await _use(world, spec, "config"))["ok"] == {"token": "***", "n": 1}


async def test_secrets_are_readable_with_the_permission(world: World) -> None:
    spec = await _loaded(world, "acme.secret", frozenset({"secrets"}),
                         config={"token": "s3cr3t", "n": 1}, secret_keys=frozenset({"token"}))
    assert (await _use(world, spec, "secrets"))["ok"] == "s3cr3t"
    assert (await _use(world, spec, "config"))["ok"] == {"token": "s3cr3t", "n": 1}


async def test_secrets_get_of_a_plain_key_is_refused(world: World) -> None:
    spec = await _loaded(world, "acme.secret", frozenset({"secrets"}),
                         config={"token": "s3cr3t", "n": 1}, secret_keys=frozenset({"token"}))
    result = await _use(world, spec, "secret_plain")
    assert "'n' is not a secret" in result["error"]


@pytest.mark.parametrize("module", ["ctypes", "subprocess", "socket", "multiprocessing"])
async def test_dangerous_modules_are_never_importable(world: World, module: str) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(spec.key, "test:imports", {"module": module},
                                    timeout_ms=5000, info=info_for(spec, "test:imports"))
    assert "never allowed" in outcome.result["refused"]


async def test_pillow_import_needs_images_and_is_recorded(world: World) -> None:
    spec = await _loaded(world, "acme.none", frozenset())
    outcome = await world.pool.call(spec.key, "test:imports", {"module": "PIL.Image"},
                                    timeout_ms=5000, info=info_for(spec, "test:imports"))
    assert "'images' permission" in outcome.result["refused"]
    # The refusal is reported from inside the worker; the host records it asynchronously.
    events = await eventually(
        lambda: [e for e in world.broker.events_of("acme.none", "permission_denied")
                 if e.details.get("module") == "PIL"],
        what="the refused PIL import is recorded")
    assert events[0].details["permission"] == "images"


async def test_pillow_import_works_with_images(world: World) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(spec.key, "test:imports", {"module": "PIL.ImageOps"},
                                    timeout_ms=5000, info=info_for(spec, "test:imports"))
    assert outcome.result == {"imported": "PIL.ImageOps"}


async def test_plugin_logs_are_rate_limited_by_the_host(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = await _loaded(world, "acme.full", PERMISSIONS)
    outcome = await world.pool.call(spec.key, "test:noisy", {"n": 500}, timeout_ms=5000,
                                    info=info_for(spec, "test:noisy"))
    assert outcome.result == "done"
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "noisy-line" in ln]
    assert 1 <= len(lines) <= 60
