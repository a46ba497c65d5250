"""Regain root by executing a setuid-root binary (what no_new_privs exists to stop)."""

import os


def attack(event, ctx):
    out = os.path.join(os.getcwd(), "euid.txt")
    try:
        pid = os.posix_spawn(
            event["binary"], [event["binary"], "-u"], {},
            file_actions=[(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                           0o644)],
        )
        os.waitpid(pid, 0)
        with open(out) as fh:
            return {"got": {"euid": fh.read().strip()}, "errors": []}
    except Exception as exc:
        return {"got": {}, "errors": [f"{type(exc).__name__}: {exc}"]}
