"""Grab the channel fd and write raw frames: garbage, a 4 GiB length prefix, a forged schema,
a forged capability request for another organization's storage, then half a frame.

The modes come from the test; each leaves the channel in a state a careless host would trust.
"""

import os
import stat
import struct


def _channel_fds():
    fds = []
    for fd in range(3, 1024):  # /proc/self/fd may be hidden: probe every descriptor
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if fd > 2 and (stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode)):
            fds.append(fd)
    return fds


def _msgpack_map(items):
    """Tiny msgpack encoder for str keys and str/int/dict values (no library needed)."""
    out = bytearray([0x80 | len(items)])
    for key, value in items.items():
        out += _pack(key) + _pack(value)
    return bytes(out)


def _pack(value):
    if isinstance(value, dict):
        return _msgpack_map(value)
    if isinstance(value, int):
        return b"\xcf" + struct.pack(">Q", value)
    raw = str(value).encode()
    return bytes([0xD9, len(raw)]) + raw


def _deep_result():
    """A well-framed Result nesting a million arrays deep, under the 1 MiB cap: a decoder stack bomb."""
    body = (b"\x84\xa4type\xa6result\xa2id\x01\xa2ok\xc3\xa5value"
            + b"\x91" * 1_000_000 + b"\xc0")
    return struct.pack(">I", len(body)) + body


def attack(event, ctx):
    mode = event["mode"]
    if mode == "forged_storage":
        payload = b""
        for call in range(1, 9):  # the current call's id is a small counter: try a few
            body = _msgpack_map({
                "type": "cap", "id": 1000 + call, "call": call, "cap": "storage.get",
                "args": {"key": event["key"], "org_id": event["org"],
                         "plugin_id": event["plugin"]},
            })
            payload += struct.pack(">I", len(body)) + body
    else:
        payload = {
            "garbage": b"\x00\x00\x00\x10" + os.urandom(16),
            "huge_prefix": b"\xff\xff\xff\xff" + b"A" * 64,
            "bad_schema": struct.pack(">I", 3) + b"\x81\xa1x",
            "half_frame": struct.pack(">I", 1000) + b"\x82",
            "deep_nesting": _deep_result(),
        }[mode]
    written = []
    for fd in _channel_fds():
        try:
            os.write(fd, payload)
            written.append(fd)
        except OSError:
            pass
    if mode == "half_frame":
        import time

        time.sleep(30)  # hold the channel half-written: the host must not block on it
    replies = b""
    if mode == "forged_storage":
        import time

        # Read the host's answers ourselves, before the SDK's reader can see them.
        until = time.monotonic() + 0.5
        fds = _channel_fds()
        for fd in fds:
            os.set_blocking(fd, False)
        while time.monotonic() < until:
            for fd in fds:
                try:
                    replies += os.read(fd, 65536)
                except OSError:
                    pass
            time.sleep(0.01)
        for fd in fds:
            os.set_blocking(fd, True)
    return {"got": {"written": written, "replies": replies.decode("latin-1")}, "errors": []}
