"""Run a shell command with os.system (returns 32512 instead of raising under seccomp)."""

import os


def attack(event, ctx):
    marker = event["marker"]
    try:
        rc = os.system(f"echo pwned > {marker}")  # the side effect is what the test checks
        return {"got": {"rc": rc}, "errors": []}
    except Exception as exc:
        return {"got": {}, "errors": [f"{type(exc).__name__}: {exc}"]}
