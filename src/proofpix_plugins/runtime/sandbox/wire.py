"""The worker channel: 4-byte big-endian length prefix + one msgspec-msgpack message.

Every message is a tagged Struct, so decoding IS validation: the host decodes worker frames
with :data:`worker_decoder`, which rejects anything not in :data:`WorkerMessage` with the
declared field types and bounds. The host checks a frame's length prefix against its cap
before it allocates the body, because the plugin controls that prefix.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any

import msgspec

HEADER = struct.Struct(">I")
#: The largest body the 4-byte prefix can express; the configured cap is usually lower.
ABSOLUTE_MAX = 2**32 - 1

Name = Annotated[str, msgspec.Meta(max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=64 * 1024)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class FrameError(Exception):
    """A frame was too large, truncated, or did not match the schema."""


# -- host -> worker ---------------------------------------------------------------------------


class Boot(msgspec.Struct, tag="boot", frozen=True):
    """What the worker needs to import and serve its plugin; sent before it hardens itself."""

    org_id: str
    plugin_id: str
    version: str
    root: str
    entry: str
    handlers: dict[str, str]
    permissions: list[str]
    config: dict[str, Any]
    import_policy: bool = True


class Call(msgspec.Struct, tag="call", frozen=True):
    id: int
    hook: str
    handler: str
    data: Any
    call_id: str
    file_id: str | None
    depth: int
    deadline: float
    cpu_seconds: float


class Configure(msgspec.Struct, tag="config", frozen=True):
    config: dict[str, Any]


class CapReply(msgspec.Struct, tag="cap_reply", frozen=True):
    id: int
    ok: bool
    value: Any = None
    #: "denied" → PermissionDenied in the plugin; "error" → CapabilityError.
    kind: str = ""
    message: str = ""
    permission: str = ""


class Stop(msgspec.Struct, tag="stop", frozen=True):
    """Exit cleanly (recycle, unload)."""


HostMessage = Boot | Call | Configure | CapReply | Stop

# -- worker -> host ---------------------------------------------------------------------------


class Ready(msgspec.Struct, tag="ready", frozen=True):
    pid: Count
    ok: bool
    error: Text = ""
    #: Milliseconds each start-up stage took in the worker (diagnostics for cold loads).
    stages: dict[Name, Annotated[float, msgspec.Meta(ge=0)]] = {}


#: Frames of a plugin traceback one result may carry (the innermost are kept).
MAX_TRACE_FRAMES = 20
Path = Annotated[str, msgspec.Meta(max_length=300)]
Line = Annotated[str, msgspec.Meta(max_length=300)]


class TraceFrame(msgspec.Struct, frozen=True, array_like=True):
    """One frame of a plugin's own code: path relative to its package root, 1-based line."""

    file: Path
    line: Count
    function: Name
    code: Line = ""


class Result(msgspec.Struct, tag="result", frozen=True):
    id: Count
    ok: bool
    value: Any = None
    error: Text = ""
    #: "" for a plain handler exception, "denied" when PermissionDenied escaped the handler,
    #: "fatal" when the worker cannot continue (MemoryError) and exits after replying.
    kind: Name = ""
    #: The plugin's own frames of a failed call, outermost first; host and SDK frames removed.
    trace: Annotated[list[TraceFrame], msgspec.Meta(max_length=MAX_TRACE_FRAMES)] = []


class CapRequest(msgspec.Struct, tag="cap", frozen=True):
    id: Count
    call: Count
    cap: Name
    args: dict[Name, Any]
    #: The worker's CLOCK_MONOTONIC when it sent this (machine-wide): how long the request
    #: waited for the host's event loop. Untrusted; the host clamps it (worker_handle.py).
    sent: float = 0.0


class Log(msgspec.Struct, tag="log", frozen=True):
    level: Name
    msg: Text
    fields: dict[Name, Any] = {}


class Blocked(msgspec.Struct, tag="blocked", frozen=True):
    """The import policy refused a module; the host records it as a security event."""

    module: Name
    permission: Name = ""


WorkerMessage = Ready | Result | CapRequest | Log | Blocked

_encoder = msgspec.msgpack.Encoder()
host_decoder = msgspec.msgpack.Decoder(HostMessage)
worker_decoder = msgspec.msgpack.Decoder(WorkerMessage)


def encode(message: msgspec.Struct) -> bytes:
    """Header and body in one buffer (one write, one syscall)."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


def decode_worker(body: bytes) -> WorkerMessage:
    try:
        message: WorkerMessage = worker_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise FrameError(f"bad frame from worker: {exc}") from None
    return message


class FrameReader:
    """Incremental frame splitter for the host side; refuses oversized frames from the header."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > self.max_frame:
                raise FrameError(f"frame of {size} bytes exceeds the {self.max_frame}-byte cap")
            end = HEADER.size + size
            if len(self._buf) < end:
                break
            frames.append(bytes(self._buf[HEADER.size : end]))
            del self._buf[:end]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)
