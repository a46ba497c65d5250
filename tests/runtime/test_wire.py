"""The channel's framing and schema: the host refuses oversized frames from the header alone
and any message that is not exactly one of the worker messages."""

from __future__ import annotations

import msgspec
import pytest

from proofpix_plugins.runtime.sandbox import wire


def _frame(body: bytes) -> bytes:
    return wire.HEADER.pack(len(body)) + body


def test_frames_split_across_reads_are_reassembled() -> None:
    frame = wire.encode(wire.Log(level="info", msg="hello"))
    reader = wire.FrameReader(1024)
    assert reader.feed(frame[:3]) == []
    assert reader.feed(frame[3:7]) == []
    [body] = reader.feed(frame[7:] + frame)[:1]
    assert wire.decode_worker(body) == wire.Log(level="info", msg="hello")
    assert reader.pending == 0


def test_oversized_frame_is_refused_from_the_header_alone() -> None:
    reader = wire.FrameReader(1024)
    with pytest.raises(wire.FrameError, match="frame of 4294967295 bytes exceeds the 1024-byte"):
        reader.feed(b"\xff\xff\xff\xff")


def test_frame_at_the_cap_is_accepted() -> None:
    body = msgspec.msgpack.encode({"type": "log", "level": "info", "msg": "x" * 1000})
    assert wire.FrameReader(len(body)).feed(_frame(body)) == [body]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "result"},  # missing fields
        {"type": "result", "id": -1, "ok": True},  # negative id
        {"type": "result", "id": 1, "ok": "yes"},  # wrong type
        {"type": "boot", "org_id": "o"},  # a host message is not a worker message
        {"type": "shell", "cmd": "id"},  # unknown tag
        {"type": "log", "level": "info", "msg": "x" * (64 * 1024 + 1)},  # over the bound
        ["result", 1],
    ],
)
def test_messages_outside_the_schema_are_refused(message: object) -> None:
    with pytest.raises(wire.FrameError, match="bad frame from worker"):
        wire.decode_worker(msgspec.msgpack.encode(message))


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(wire.FrameError):
        wire.decode_worker(b"\xc1\xc1\xc1")


def test_result_round_trips_with_bytes_and_nesting() -> None:
    result = wire.Result(id=3, ok=True, value={"b": b"\x00\x01", "n": [1, 2.5, None]})
    [body] = wire.FrameReader(1 << 20).feed(wire.encode(result))
    assert wire.decode_worker(body) == result


def test_pathologically_deep_values_are_a_bad_frame_not_a_host_error() -> None:
    deep = b"\x91" * 200_000 + b"\xc0"  # an array nested 200,000 levels
    body = (b"\x84" + msgspec.msgpack.encode("type") + msgspec.msgpack.encode("result")
            + msgspec.msgpack.encode("id") + b"\x01" + msgspec.msgpack.encode("ok") + b"\xc3"
            + msgspec.msgpack.encode("value") + deep)
    with pytest.raises(wire.FrameError, match="recursion"):
        wire.decode_worker(body)
