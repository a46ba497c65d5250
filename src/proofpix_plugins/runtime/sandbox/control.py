"""Messages between the host and the template process (one msgpack message per SEQPACKET).

The worker's end of its channel travels beside a :class:`Spawn` as SCM_RIGHTS; everything
plugin-specific (entry, config) travels on that channel itself, so the template only ever
sees hardening parameters.
"""

from __future__ import annotations

import msgspec


class Spawn(msgspec.Struct, tag="spawn", frozen=True):
    req: int
    plugin_root: str
    scratch: str
    read_only: list[str]
    uid: int | None
    gid: int | None
    memory_mb: int
    cpu_seconds_hard: int
    open_files: int
    file_size_mb: int
    cgroup_procs: list[str]
    disabled: list[str]
    max_frame: int


class Hello(msgspec.Struct, tag="hello", frozen=True):
    pid: int
    layers: dict[str, bool]
    details: dict[str, str]
    landlock_abi: int
    preload_failed: list[str]


class Spawned(msgspec.Struct, tag="spawned", frozen=True):
    req: int
    pid: int


class SpawnFailed(msgspec.Struct, tag="spawn_failed", frozen=True):
    req: int
    error: str


class Exited(msgspec.Struct, tag="exited", frozen=True):
    pid: int
    #: The raw wait status (decode with os.WIFSIGNALED and friends).
    status: int


ToTemplate = Spawn
FromTemplate = Hello | Spawned | SpawnFailed | Exited

encoder = msgspec.msgpack.Encoder()
to_template = msgspec.msgpack.Decoder(ToTemplate)
from_template = msgspec.msgpack.Decoder(FromTemplate)

#: Control messages are small; a Spawn with long path lists still fits easily.
MAX_MESSAGE = 256 * 1024
