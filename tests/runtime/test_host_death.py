"""When the server process dies without closing the pool (SIGKILL), the parent-death signal
takes the template and every worker with it: nothing is left running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.runtime.sandbox_kit import pid_exists, plugin_tree, traversable_dir
from tests.waiting import eventually_sync

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host import scratch_fs
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool

HOST = '''
import asyncio, json, sys
from pathlib import Path
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import CallInfo, HookBinding, PluginSpec

async def main():
    base, root = Path(sys.argv[1]), Path(sys.argv[2])
    pool = WorkerPool(RuntimeConfig(base_dir=base), MemoryBroker())
    await pool.start()
    pids = []
    for i in range(2):
        spec = PluginSpec(org_id="o", plugin_id=f"acme.p{i}", version="1.0.0", root=root,
                          hooks={"t:pid": HookBinding("pid")})
        await pool.load(spec)
        out = await pool.call(spec.key, "t:pid", None, timeout_ms=5000,
                              info=CallInfo("o", spec.plugin_id, "t:pid", "c"))
        pids.append(out.result)
    print(json.dumps({"template": pool.template_pid, "workers": pids}), flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
'''


async def _start_and_close(base: Path) -> None:
    pool = WorkerPool(RuntimeConfig(base_dir=base), MemoryBroker())
    await pool.start()
    await pool.close()


def test_killing_the_host_leaves_no_template_or_worker() -> None:
    with traversable_dir("pp-death") as base:
        root = plugin_tree(base, "p", "import os\n\ndef pid(e, c):\n    return os.getpid()\n")
        host = subprocess.Popen(
            [sys.executable, "-c", HOST, str(base / "rt"), str(root)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert host.stdout is not None
            line = host.stdout.readline()
            while not line.startswith('{"template"'):  # skip the runtime's own log lines
                assert line, "the host exited before reporting its pids"
                line = host.stdout.readline()
            started = json.loads(line)
            pids = [started["template"], *started["workers"]]
            assert all(pid_exists(p) for p in pids)
            os.kill(host.pid, signal.SIGKILL)
            host.wait(timeout=10)
            eventually_sync(lambda: not any(pid_exists(p) for p in pids),
                            what=f"template and workers {pids} die with their host")
            # The dead host could not unmount its plugins' capped scratch dirs; the next pool
            # on the same base dir does, before anything else.
            scratch = base / "rt" / "scratch"
            if os.geteuid() == 0:
                assert len(scratch_fs.mounted_under(scratch)) == 2
            asyncio.run(_start_and_close(base / "rt"))
            assert scratch_fs.mounted_under(scratch) == []
        finally:
            if host.poll() is None:
                host.kill()
                host.wait()
            if host.stdout is not None:
                host.stdout.close()
