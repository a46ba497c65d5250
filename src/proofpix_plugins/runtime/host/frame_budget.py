"""What one frame from a worker may cost the host to decode: bytes, objects and nesting.

msgspec decodes at C speed but without limits: a reply of a few MB of empty lists or of deep
nesting costs seconds on the event loop and many times its size in memory. So a frame is
measured before it is decoded, by walking its msgpack structure without building anything:

* :func:`inline_ok` is the fast path (a ``len`` and one ``bytes.translate``): a frame of at most
  ``INLINE_DECODE_BYTES`` whose container-marker bytes are at most ``FRAME_MAX_DEPTH`` can hold
  neither too many objects nor too deep a nesting, and is decoded on the loop at once;
* anything else goes through :func:`prepare` in a thread: :func:`measure` walks the structure
  (stopping at the first bound it crosses), the message kind's byte budget is checked, and only
  then is it decoded. What is over budget comes back as :class:`Refused`, which the host answers
  as the plugin's error: a refused result ends the call with ``error``, a refused capability
  request gets an error reply, a refused log line is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofpix_plugins.runtime.limits import (
    CAP_FRAME_MAX_BYTES,
    FRAME_MAX_DEPTH,
    FRAME_MAX_OBJECTS,
    INLINE_DECODE_BYTES,
    LOG_FRAME_MAX_BYTES,
    RESULT_MAX_BYTES,
)
from proofpix_plugins.runtime.sandbox import wire

#: Per message kind, the most bytes its frame may have; other kinds are small (64 KiB).
BYTE_BUDGETS: dict[str, int] = {
    "result": RESULT_MAX_BYTES,
    "cap": CAP_FRAME_MAX_BYTES,
    "log": LOG_FRAME_MAX_BYTES,
}
OTHER_MAX_BYTES = 64 * 1024

# Every byte that can open a container (fixmap, fixarray, array16/32, map16/32): a frame with
# at most FRAME_MAX_DEPTH of them, wherever they are, nests at most that deep.
_CONTAINER_BYTES = bytes([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])
_NOT_CONTAINER = bytes(b for b in range(256) if b not in _CONTAINER_BYTES)

# First byte -> how to skip the object: >= 0 fixed extra bytes; -1 invalid; other codes below.
_STR, _ARR, _MAP = -2, -3, -4
_SKIP = [0] * 256
_LEN: dict[int, tuple[int, int]] = {}  # first byte -> (length bytes, extra bytes) for str/bin/ext
for _b in range(0xA0, 0xC0):
    _SKIP[_b] = _STR
for _b, _n in ((0xC4, 1), (0xC5, 2), (0xC6, 4), (0xD9, 1), (0xDA, 2), (0xDB, 4)):
    _SKIP[_b], _LEN[_b] = _STR, (_n, 0)
for _b, _n in ((0xC7, 1), (0xC8, 2), (0xC9, 4)):
    _SKIP[_b], _LEN[_b] = _STR, (_n, 1)
for _b, _n in ((0xCA, 4), (0xCB, 8), (0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8), (0xD0, 1),
               (0xD1, 2), (0xD2, 4), (0xD3, 8), (0xD4, 2), (0xD5, 3), (0xD6, 5), (0xD7, 9),
               (0xD8, 17)):
    _SKIP[_b] = _n
for _b in (*range(0x90, 0xA0), 0xDC, 0xDD):
    _SKIP[_b] = _ARR
for _b in (*range(0x80, 0x90), 0xDE, 0xDF):
    _SKIP[_b] = _MAP
_SKIP[0xC1] = -1


@dataclass(frozen=True)
class Shape:
    """What :func:`measure` found: the kind and ids of the message, and whether it is over."""

    kind: str | None
    id: int | None
    objects: int
    depth: int
    over: str | None  # why it is over budget, or None


@dataclass(frozen=True)
class Refused:
    """A well-framed message over its budget, answered as the plugin's error."""

    kind: str
    id: int | None
    reason: str


def inline_ok(body: bytes) -> bool:
    """Small enough, and few enough containers, to decode on the event loop unmeasured."""
    return (
        len(body) <= INLINE_DECODE_BYTES
        and len(body.translate(None, _NOT_CONTAINER)) <= FRAME_MAX_DEPTH
    )


def measure(
    body: bytes, max_objects: int = FRAME_MAX_OBJECTS, max_depth: int = FRAME_MAX_DEPTH
) -> Shape:
    """Walk the msgpack structure of ``body`` without decoding it; stop at the first bound."""
    n = len(body)
    pos = objects = depth = deepest = 0
    stack: list[int] = []
    remaining = 1
    kind: str | None = None
    ident: int | None = None
    key: bytes | None = None  # the last top-level key, while its value is read
    while True:
        while remaining == 0:
            if not stack:
                if pos != n:
                    raise wire.FrameError("bad frame from worker: trailing bytes")
                return Shape(kind, ident, objects, deepest, None)
            remaining = stack.pop()
            depth -= 1
        remaining -= 1
        if pos >= n:
            raise wire.FrameError("bad frame from worker: truncated")
        objects += 1
        if objects > max_objects:
            return Shape(kind, ident, objects, deepest, f"more than {max_objects} objects")
        b = body[pos]
        pos += 1
        code = _SKIP[b]
        # Inside the message's own map (depth 1): keys at odd ``remaining``, values at even.
        top_value = depth == 1 and remaining % 2 == 0
        if code >= 0:
            if top_value and key == b"id" and b < 0x80:
                ident = b
            elif top_value and key == b"id" and code in (1, 2, 4, 8) and b in range(0xCC, 0xD0):
                ident = int.from_bytes(body[pos:pos + code], "big")
            pos += code
        elif code == _STR:
            if b < 0xC0:
                size, start = b & 0x1F, pos
            else:
                width, extra = _LEN[b]
                size = int.from_bytes(body[pos:pos + width], "big")
                start = pos + width + extra
            end = start + size
            if depth == 1:
                if remaining % 2 == 1:  # a key of the message's map
                    key = body[start:end] if size <= 8 else b""
                elif key == b"type" and size <= 16:
                    kind = body[start:end].decode("latin-1")
            pos = end
        elif code in (_ARR, _MAP):
            if b < 0xDC:
                count = b & 0x0F
            else:
                width = 2 if b in (0xDC, 0xDE) else 4
                count = int.from_bytes(body[pos:pos + width], "big")
                pos += width
            if code == _MAP:
                count *= 2
            depth += 1
            if depth > max_depth:
                return Shape(kind, ident, objects, depth, f"nested deeper than {max_depth} levels")
            deepest = max(deepest, depth)
            stack.append(remaining)
            remaining = count
        else:
            raise wire.FrameError("bad frame from worker: invalid msgpack byte 0xc1")
        if pos > n:
            raise wire.FrameError("bad frame from worker: truncated")


def prepare(body: bytes) -> wire.WorkerMessage | Refused:
    """Measure, check the kind's byte budget, then decode (run in a thread for large frames)."""
    shape = measure(body)
    budget = BYTE_BUDGETS.get(shape.kind or "", OTHER_MAX_BYTES)
    over = shape.over
    if over is None and len(body) > budget:
        over = f"{len(body)} bytes, over the {budget}-byte limit"
    if over is not None:
        if shape.kind in BYTE_BUDGETS:
            return Refused(shape.kind or "", shape.id, f"{_WHAT[shape.kind or '']}: {over}")
        raise wire.FrameError(f"bad frame from worker: {over}")
    return wire.decode_worker(body)


_WHAT = {
    "result": "result refused",
    "cap": "capability request refused",
    "log": "log line dropped",
}
