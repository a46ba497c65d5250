"""The host's side of the worker channel on arbitrary bytes (issue #17): the frame reader, the
message decoder and the large-frame budget never raise anything but ``FrameError`` (on which the
host kills that worker), never hang, and never hold more than one frame's cap."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofpix_plugins.runtime.host import frame_budget
from proofpix_plugins.runtime.sandbox import wire

MAX_FRAME = 1 << 16
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WORKER_TYPES = (wire.Result, wire.CapRequest, wire.Log, wire.Blocked, wire.Ready)
TAGS = ["result", "cap", "log", "blocked", "ready", "boot", "call", "config", "cap_reply",
        "stop", ""]

msgpack_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
              st.floats(), st.text(max_size=20), st.binary(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=30,
)
# Maps that look like messages (a known tag, known-looking fields, arbitrary values): past the
# msgpack layer into msgspec's typed validation.
message_like = st.builds(
    lambda tag, fields: {"type": tag, **fields},
    st.sampled_from(TAGS),
    st.dictionaries(st.sampled_from(["id", "ok", "value", "error", "kind", "call", "cap", "args",
                                     "level", "msg", "fields", "module", "permission", "pid",
                                     "stages"]), msgpack_values, max_size=6),
)


def _decode(body: bytes) -> None:
    started = time.monotonic()
    try:
        message: Any = frame_budget.prepare(body)
    except wire.FrameError:
        pass
    else:
        assert isinstance(message, (*WORKER_TYPES, frame_budget.Refused))
    try:
        decoded = wire.decode_worker(body)
    except wire.FrameError:
        pass
    else:
        assert isinstance(decoded, WORKER_TYPES)
    assert time.monotonic() - started < 5.0


@FUZZ
@given(st.binary(max_size=4096))
def test_any_body_decodes_or_is_a_frame_error(body: bytes) -> None:
    _decode(body)


@settings(FUZZ, max_examples=150)
@given(message_like)
def test_message_shaped_maps_decode_or_are_a_frame_error(value: dict[str, Any]) -> None:
    _decode(msgspec.msgpack.encode(value))


@FUZZ
@given(st.lists(st.binary(max_size=512), max_size=12))
def test_the_reader_splits_any_stream_or_refuses_it(chunks: list[bytes]) -> None:
    reader = wire.FrameReader(MAX_FRAME)
    stream = b"".join(chunks)
    frames: list[bytes] = []
    try:
        for chunk in chunks:
            frames.extend(reader.feed(chunk))
    except wire.FrameError:
        # Refused from a header alone: the announced size is over the cap.
        return
    # What was framed is exactly the stream, frame by frame, and what is held back is less
    # than one frame: the reader never buffers more than a header and one frame's cap.
    rebuilt = b"".join(wire.HEADER.pack(len(f)) + f for f in frames)
    assert stream.startswith(rebuilt)
    assert reader.pending == len(stream) - len(rebuilt)
    assert reader.pending < wire.HEADER.size + MAX_FRAME
    for frame in frames:
        _decode(frame)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=200_000))
def test_deeply_nested_frames_are_refused_not_a_crash(depth: int) -> None:
    _decode(b"\x91" * depth + b"\xc0")  # [[[…nil…]]]
    _decode(b"\x81\xa1a" * depth + b"\xc0")  # {"a": {"a": …}}
