"""Runtime settings: where scratch dirs live, pool limits, and test-only switches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Every layer the test-only ``disabled_layers`` switch may name.
LAYERS: tuple[str, ...] = (
    "netns",
    "ipcns",
    "mountns",
    "landlock",
    "seccomp",
    "rlimits",
    "uid",
    "uid_table",
    "nnp",
    "cgroup",
    "import_policy",
    "scratch_quota",
)


@dataclass(frozen=True)
class RuntimeConfig:
    """How the worker pool behaves; built by the app factory from Settings."""

    #: Plugins' scratch dirs live under it; it must be traversable (o+x) by plugin uids.
    base_dir: Path
    max_live_workers: int = 64
    idle_seconds: float = 600.0
    recycle_calls: int = 10_000
    recycle_rss_mb: int = 512
    #: Run plugins even when Landlock or seccomp is missing; logged loudly on every load.
    insecure_dev: bool = False
    #: TEST-ONLY: switch one layer off to show what it alone stops (names in LAYERS).
    disabled_layers: frozenset[str] = frozenset()
    #: TEST-ONLY: host names the http capability may reach on loopback.
    http_test_allow_loopback: tuple[str, ...] = ()
    circuit_breaker_threshold: int = 5
    max_frame_bytes: int = 64 * 1024 * 1024
    max_hook_depth: int = 4
    #: Plugin log lines per second per worker the host keeps; the rest are counted and dropped.
    log_rate_per_second: float = 50.0
    #: How long a worker may take to start and import its plugin.
    load_timeout_s: float = 10.0
    #: How long a top-level call whose caller set no timeout may wait for its plugin's busy
    #: worker (a caller's own timeout bounds the wait instead). The plugin's timeout bounds its
    #: run only: the queue is the host's capacity, not the plugin's fault.
    queue_wait_s: float = 5.0
    #: Each plugin's scratch dir is a tmpfs of at most this many MiB (and half its memory_mb)
    #: and inodes (root hosts): with the per-file RLIMIT_FSIZE it bounds what a plugin can fill.
    scratch_mb: int = 128
    scratch_inodes: int = 4096
    #: The machine-wide table plugin uids are allocated from (root hosts); every API process on
    #: the machine must use the same one. None: host/uid_table.DEFAULT_PATH under /run.
    uid_table: Path | None = None

    def __post_init__(self) -> None:
        unknown = set(self.disabled_layers) - set(LAYERS)
        if unknown:
            raise ValueError(
                f"disabled_layers: unknown layer(s) {sorted(unknown)}; known: {list(LAYERS)}"
            )
        if self.max_live_workers < 1:
            raise ValueError("max_live_workers: must be at least 1")
        if self.scratch_mb < 1 or self.scratch_inodes < 16:
            raise ValueError("scratch_mb: at least 1; scratch_inodes: at least 16")
        if self.max_frame_bytes < 1024:
            raise ValueError("max_frame_bytes: must be at least 1024")
