"""Pass data to another organization's plugin through System V and POSIX IPC.

The sender leaves a message in a SysV queue, a SysV shared-memory segment and a POSIX message
queue under keys both sides know; the receiver, a plugin of another organization, reads them.
Native calls come from ``_native`` (no ctypes import), so only the kernel layers can stop it.
"""

import time

from ._native import Native

IPC_CREAT, IPC_NOWAIT, SHM_RDONLY = 0o1000, 0o4000, 0o10000
O_RDONLY, O_RDWR, O_CREAT, O_NONBLOCK = 0, 2, 0o100, 0o4000


def _send(n, key, msg, got):
    qid = n.call("msgget", key, IPC_CREAT | 0o666)
    got["msgget"] = qid
    if qid >= 0:
        buf = n.buf(8 + len(msg), (1).to_bytes(8, "little") + msg)
        got["msgsnd"] = n.call("msgsnd", qid, buf, len(msg), IPC_NOWAIT)
    shmid = n.call("shmget", key + 1, 4096, IPC_CREAT | 0o666)
    got["shmget"] = shmid
    if shmid >= 0:
        addr = n.call("shmat", shmid, 0, 0, pointer=True)
        if addr not in (-1, 0):
            n.call("memcpy", addr, n.buf(len(msg) + 1, msg), len(msg) + 1, pointer=True)
            got["shm"] = "written"
    name = n.buf(64, b"/pp-redteam-%d" % key)
    mq = n.call("mq_open", name, O_CREAT | O_RDWR | O_NONBLOCK, 0o666, 0)
    got["mq_open"] = mq
    if mq >= 0:
        got["mq_send"] = n.call("mq_send", mq, n.buf(len(msg), msg), len(msg), 0)


def _receive(n, key, got):
    qid = n.call("msgget", key, 0)
    if qid >= 0:
        buf = n.buf(8 + 4096)
        size = n.call("msgrcv", qid, buf, 4096, 0, IPC_NOWAIT)
        if size > 0:
            got["queue"] = bytes(buf)[8:8 + size].decode("latin-1")
    shmid = n.call("shmget", key + 1, 0, 0)
    if shmid >= 0:
        addr = n.call("shmat", shmid, 0, SHM_RDONLY, pointer=True)
        if addr not in (-1, 0):
            buf = n.buf(128)
            n.call("memcpy", buf, addr, 127, pointer=True)
            got["shm"] = bytes(buf).split(b"\0")[0].decode("latin-1")
    mq = n.call("mq_open", n.buf(64, b"/pp-redteam-%d" % key), O_RDONLY | O_NONBLOCK, 0, 0)
    if mq >= 0:
        buf = n.buf(8192)
        size = n.call("mq_receive", mq, buf, 8192, 0)
        if size > 0:
            got["mq"] = bytes(buf)[:size].decode("latin-1")


def attack(event, ctx):
    n, got = Native(), {}
    if event["role"] == "send":
        _send(n, event["key"], event["message"].encode(), got)
    else:
        _receive(n, event["key"], got)
    time.sleep(event.get("hold", 0))
    return {"got": got}
