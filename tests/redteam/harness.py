"""The red team's world: a host with secrets, listening servers, a victim, and a real runtime.

Everything here is real: files with secrets on disk, TCP/UDP/UNIX listeners on this machine, a
victim process, an HTTP redirector, and a :class:`WorkerPool` + :class:`HookBus` over a
:class:`MemoryBroker`. Evidence of a successful attack is collected OUTSIDE the sandbox
(connections accepted, datagrams received, marker files, dead processes) wherever one exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import http.server
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.hooks.results import PluginResult
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import HookBinding, PluginSpec

CORPUS = Path(__file__).parent / "corpus"
ORG = "org-red"
OTHER_ORG = "org-victim"
#: A bystander call answering slower than this waited behind the attack (harness docstring).
BYSTANDER_MAX_S = 5.0
#: The environment variable the host holds a secret in; the worker must never see it.
HOST_SECRET_ENV = "PROOFPIX_JWT_SECRET"


def plugin_id(name: str) -> str:
    return "red." + name.replace("_", "-")


def hook_of(name: str) -> str:
    return "redteam:" + name


# -- listeners: evidence of a connection that should never have happened ----------------------


class Listener:
    """A stream or datagram socket served by a thread; records every peer that got through."""

    def __init__(self, sock: socket.socket, *, datagram: bool = False) -> None:
        self.sock = sock
        self.datagram = datagram
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        sock.settimeout(0.1)
        if not datagram:
            sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self.datagram:
                    data, _ = self.sock.recvfrom(4096)
                    self.hits.append(data)
                    continue
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.hits.append(conn.recv(4096) or b"<connected>")
                except OSError:
                    self.hits.append(b"<connected>")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


class _SecretHandler(http.server.BaseHTTPRequestHandler):
    """Serves a secret on /secret and redirects /go?to=<url> anywhere the test asks."""

    server: _HttpServer

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        if self.path == "/hello":
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/go/"):
            target = self.server.redirects.get(self.path[len("/go/"):], "/")
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.secret.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, secret: str) -> None:
        super().__init__(("127.0.0.1", 0), _SecretHandler)
        self.secret = secret
        self.hits: list[str] = []
        self.redirects: dict[str, str] = {}


@dataclass
class Host:
    """The host the attacks aim at, with every secret and listener they would want."""

    base: Path
    canary: str
    secret_file: Path  # 0600, root-owned: the server's JWT secret
    public_file: Path  # 0644: world-readable, only Landlock keeps it out
    data_dir: Path
    closed_dir: Path  # root-owned 0755 dir outside scratch: writes must fail
    tcp: Listener
    tcp6: Listener | None
    udp: Listener
    unix: Listener
    unix_path: str
    abstract: Listener
    abstract_name: str
    http: _HttpServer
    victims: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def canaries(self) -> list[str]:
        return [self.canary]

    def new_victim(self) -> subprocess.Popen[bytes]:
        victim = subprocess.Popen(["sleep", "300"])
        self.victims.append(victim)
        return victim

    def listener_hits(self) -> dict[str, list[bytes]]:
        out = {"tcp": self.tcp.hits, "udp": self.udp.hits, "unix": self.unix.hits,
               "abstract": self.abstract.hits}
        if self.tcp6 is not None:
            out["tcp6"] = self.tcp6.hits
        return out

    def http_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"


def _dir(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


@contextlib.contextmanager
def make_host() -> Iterator[Host]:
    """Build the host world under a fresh /tmp dir (0711: traversable by plugin uids)."""
    base = Path(f"/tmp/pp-redteam-{secrets.token_hex(4)}")
    _dir(base, 0o711)
    canary = "CANARY-" + secrets.token_hex(12)
    data_dir = _dir(base / "server-data", 0o755)
    secret_file = data_dir / "jwt_secret"
    secret_file.write_text(canary)
    secret_file.chmod(0o600)
    public_file = data_dir / "public.txt"
    public_file.write_text(f"public-but-private {canary}\n")
    public_file.chmod(0o644)
    (data_dir / "proofpix.db").write_text(f"SQLite format 3 {canary}")
    closed_dir = _dir(base / "closed", 0o755)
    sock_dir = _dir(base / "sock", 0o777)

    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp6: socket.socket | None = None
    with contextlib.suppress(OSError):
        tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        tcp6.bind(("::1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix_path = str(sock_dir / "host.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    os.chmod(unix_path, 0o777)  # noqa: S103 -- world-writable on purpose: only seccomp may stop it
    abstract_name = f"pp-redteam-{secrets.token_hex(4)}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    server = _HttpServer(canary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = Host(
        base=base, canary=canary, secret_file=secret_file, public_file=public_file,
        data_dir=data_dir, closed_dir=closed_dir,
        tcp=Listener(tcp), tcp6=Listener(tcp6) if tcp6 is not None else None,
        udp=Listener(udp, datagram=True), unix=Listener(unix), unix_path=unix_path,
        abstract=Listener(abstract), abstract_name=abstract_name, http=server,
    )
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        for listener in (host.tcp, host.tcp6, host.udp, host.unix, host.abstract):
            if listener is not None:
                listener.close()
        for victim in host.victims:
            victim.kill()
            victim.wait()
        shutil.rmtree(base, ignore_errors=True)


# -- the runtime under attack ------------------------------------------------------------------


@dataclass
class Runtime:
    """One pool + bus over a MemoryBroker, and the plugin trees built for it."""

    host: Host
    config: RuntimeConfig
    pool: WorkerPool
    bus: HookBus
    broker: MemoryBroker
    trees: Path
    loaded: dict[tuple[str, str], PluginSpec] = field(default_factory=dict)

    def tree(self, org: str, name: str) -> Path:
        """Copy corpus/<name>.py into a package tree the worker may read (0755/0644)."""
        root = self.trees / org / name
        if not root.exists():
            pkg = _dir(root / "plugin", 0o755)
            root.chmod(0o755)
            (root.parent).chmod(0o755)
            target = pkg / "__init__.py"
            shutil.copyfile(CORPUS / f"{name}.py", target)
            target.chmod(0o644)
            # Native calls without ctypes, for the plugins that need them (see _native.py).
            helper = pkg / "_native.py"
            shutil.copyfile(CORPUS / "_native.py", helper)
            helper.chmod(0o644)
        return root

    def spec(
        self,
        name: str,
        *,
        org: str = ORG,
        permissions: frozenset[str] = frozenset(),
        timeout_ms: int = 3000,
        memory_mb: int = 128,
        config: Mapping[str, Any] | None = None,
        secret_keys: frozenset[str] = frozenset(),
        network_allow: tuple[str, ...] = (),
        extra_hooks: Mapping[str, HookBinding] | None = None,
    ) -> PluginSpec:
        hooks = {hook_of(name): HookBinding("attack")}
        hooks.update(extra_hooks or {})
        return PluginSpec(
            org_id=org, plugin_id=plugin_id(name), version="1.0.0",
            root=self.tree(org, name), hooks=hooks, permissions=permissions,
            network_allow=network_allow, memory_mb=memory_mb, timeout_ms=timeout_ms,
            config=dict(config or {}), secret_keys=secret_keys,
        )

    async def load(self, spec: PluginSpec) -> None:
        if self.loaded.get(spec.key) != spec:
            if spec.key in self.loaded:
                await self.bus.deactivate(*spec.key)
            await self.bus.activate(spec)
            self.loaded[spec.key] = spec

    async def attack(
        self,
        name: str,
        event: Mapping[str, Any] | None = None,
        *,
        file_id: str | None = None,
        **spec_kw: Any,
    ) -> PluginResult:
        """Load (once) and run one corpus plugin; then prove the host still serves others."""
        spec = self.spec(name, **spec_kw)
        await self.load(spec)
        result = await self.bus.execute_hook(
            spec.org_id, hook_of(name), dict(event or {}), file_id=file_id
        )
        (one,) = result.results
        await self.assert_serving()
        return one

    def worker_pid(self, name: str, org: str = ORG) -> int | None:
        return self.worker_pid_of(org, plugin_id(name))

    def worker_pid_of(self, org: str, plugin: str) -> int | None:
        for w in self.pool.live_workers():
            if (w.org_id, w.plugin_id) == (org, plugin):
                return w.pid
        return None

    def scratch(self, name: str, org: str = ORG) -> Path:
        """The plugin's scratch dir, read from its live worker's cwd (as the kernel sees it)."""
        pid = self.worker_pid(name, org)
        assert pid is not None, f"{name} has no live worker"
        return Path(os.readlink(f"/proc/{pid}/cwd"))

    async def attack_while_serving(
        self, name: str, event: Mapping[str, Any] | None = None, *, within_s: float = 0.5,
        file_id: str | None = None, **spec_kw: Any,
    ) -> PluginResult:
        """Run an attack while the bystander (another org) keeps being called; every one of
        those calls must answer ``ok``, and the host's event loop must never stall for
        ``within_s``: the host stays responsive.

        The stall is measured on the loop itself (a ticker's lateness), not as the bystander's
        round trip: that also holds the bystander's own worker waiting for a core, which on a
        2-core machine busy with the attacker's worker and the host's decoding thread reached
        0.9-1.2 s in CI with a loop that never stalled. The round trip keeps a backstop
        (``BYSTANDER_MAX_S``): a bystander queued behind the attack would wait it out."""
        spec = self.spec(name, **spec_kw)
        await self.load(spec)
        bystander = self.spec("benign", org=OTHER_ORG)
        await self.load(bystander)
        loop = asyncio.get_running_loop()
        stall = 0.0

        async def tick() -> None:
            nonlocal stall
            while True:
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)
                stall = max(stall, loop.time() - due)

        # The test session's own heap (thousands of tests' objects in CI) is frozen out of the
        # collector for the attack, and what the collector still spends in the window is not
        # counted as the host's stall: a gen-2 pass, which the attack's 90,000-object replies
        # can trigger, walks every object of the process (~0.3 s per 4 million containers
        # here), and the loop stalled 0.8 s in CI where it never does alone. That is the test
        # runner's heap, not the host's work.
        collecting = 0.0
        gc_started = 0.0

        def on_gc(phase: str, _info: dict[str, Any]) -> None:
            nonlocal collecting, gc_started
            if phase == "start":
                gc_started = time.perf_counter()
            else:
                collecting += time.perf_counter() - gc_started

        gc.freeze()
        gc.callbacks.append(on_gc)
        ticker = asyncio.ensure_future(tick())
        attack = asyncio.ensure_future(
            self.bus.execute_hook(spec.org_id, hook_of(name), dict(event or {}), file_id=file_id))
        slowest, calls = 0.0, 0
        try:
            while not attack.done() or calls == 0:
                t0 = time.perf_counter()
                result = await self.bus.execute_hook(OTHER_ORG, hook_of("benign"),
                                                     {"ping": calls})
                slowest = max(slowest, time.perf_counter() - t0)
                (one,) = result.results
                assert one.status == "ok", f"bystander failed during {name}: {one}"
                calls += 1
        finally:
            ticker.cancel()
            gc.callbacks.remove(on_gc)
            gc.unfreeze()
        assert stall - collecting < within_s, (
            f"the host's event loop stalled {stall:.3f} s during {name} "
            f"({collecting:.3f} s of it, at most, the garbage collector's)")
        assert slowest < BYSTANDER_MAX_S, f"bystander took {slowest:.3f} s during {name}"
        (mine,) = (await attack).results
        return mine

    async def assert_serving(self) -> None:
        """The bystander plugin (another org) answers: nothing the attack did hurt the host."""
        spec = self.spec("benign", org=OTHER_ORG)
        await self.load(spec)
        result = await self.bus.execute_hook(OTHER_ORG, hook_of("benign"), {"ping": 1})
        (one,) = result.results
        assert one.status == "ok", f"bystander failed after an attack: {one}"
        assert one.result["echo"] == {"ping": 1}


@contextlib.asynccontextmanager
async def start_runtime(
    host: Host, *, disabled: frozenset[str] = frozenset(), name: str = "rt", **config_kw: Any
) -> Any:
    """A started pool + bus; always closed, leaving no worker behind."""
    base = _dir(host.base / name, 0o711)
    trees = _dir(base / "trees", 0o755)
    config = RuntimeConfig(
        base_dir=_dir(base / "runtime", 0o711),
        disabled_layers=disabled,
        circuit_breaker_threshold=config_kw.pop("circuit_breaker_threshold", 1000),
        **config_kw,
    )
    broker = MemoryBroker()
    pool = WorkerPool(config, broker)
    await pool.start()
    try:
        bus = HookBus(pool, broker, config)
        yield Runtime(host, config, pool, bus, broker, trees)
    finally:
        await pool.close()


def stolen(value: Any, *needles: str) -> list[str]:
    """Which needles appear anywhere in a (JSON-like) value: what an attack got out."""
    text = repr(value)
    return [n for n in needles if n in text]


def python() -> str:
    return sys.executable


# -- evidence for the host-hardening attacks -------------------------------------------------------

#: A plugin of OTHER_ORG whose uid under the old public hash equals that of ORG's
#: ``prlimit_neighbour`` (found by brute force: choosing such an id is the attack).
COLLIDING_VICTIM = "victim.n289673"
VICTIM_HOOK = "redteam:victim"


async def load_victim(rt: Runtime) -> int:
    """Load the colliding victim (an honest plugin of another org); returns its worker's pid."""
    base = rt.spec("benign", org=OTHER_ORG)
    spec = dataclasses.replace(base, plugin_id=COLLIDING_VICTIM,
                               hooks={VICTIM_HOOK: HookBinding("attack")})
    await rt.load(spec)
    pid = rt.worker_pid_of(OTHER_ORG, COLLIDING_VICTIM)
    assert pid is not None
    return pid


def victim_state(pid: int) -> tuple[str, str, str]:
    """(open-files limit row, nice value, allowed CPUs) of a process, from the host's /proc."""
    with open(f"/proc/{pid}/limits") as fh:
        nofile = next(line for line in fh if line.startswith("Max open files"))
    with open(f"/proc/{pid}/stat") as fh:
        nice = fh.read().rsplit(")", 1)[1].split()[16]
    with open(f"/proc/{pid}/status") as fh:
        cpus = next(line for line in fh if line.startswith("Cpus_allowed_list"))
    return " ".join(nofile.split()), nice, cpus.split()[-1]


def host_ipc_objects(key: int) -> list[str]:
    """The IPC objects under ``key`` in the HOST's IPC namespace (what outlived the workers)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    found = []
    if libc.msgget(key, 0) >= 0:
        found.append("msg")
    if libc.shmget(key + 1, 0, 0) >= 0:
        found.append("shm")
    mq = libc.mq_open(f"/pp-redteam-{key}".encode(), os.O_RDONLY)
    if mq >= 0:
        libc.mq_close(mq)
        found.append("mq")
    return found


def remove_host_ipc_objects(key: int) -> None:
    """Clean up after an attack that got through (only ever in the 'without' matrix tests)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for qid in (libc.msgget(key, 0),):
        if qid >= 0:
            libc.msgctl(qid, 0, None)  # IPC_RMID
    shmid = libc.shmget(key + 1, 0, 0)
    if shmid >= 0:
        libc.shmctl(shmid, 0, None)
    libc.mq_unlink(f"/pp-redteam-{key}".encode())


def plant_zip(rt: Runtime, org: str, mark: str) -> None:
    """Put blob.dat, a zip holding hidden.py and hidden_top.py, in zip_on_path's package."""
    pkg = rt.tree(org, "zip_on_path") / "plugin"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("hidden.py", "hidden_top.py"):
            zf.writestr(name, f"MARK = {mark!r}\n")
    blob = pkg / "blob.dat"
    blob.write_bytes(buf.getvalue())
    blob.chmod(0o644)
