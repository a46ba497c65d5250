"""Read another plugin's package tree and its scratch directory (paths guessed or given)."""

import os


def attack(event, ctx):
    got, errors = {}, []
    for path in event["paths"]:
        try:
            with open(path, "rb") as fh:
                got[path] = fh.read().decode("latin-1")
        except Exception as exc:
            errors.append(f"{path}: {type(exc).__name__}")
    # Walk up from our own tree and scratch to find siblings, as a real attacker would.
    here = os.path.dirname(os.path.abspath(__file__))
    for start in (here, os.getcwd(), os.environ.get("TMPDIR", "/tmp")):
        probe = start
        for _ in range(4):
            probe = os.path.dirname(probe)
            try:
                got["ls:" + probe] = sorted(os.listdir(probe))
            except Exception as exc:
                errors.append(f"ls {probe}: {type(exc).__name__}")
    return {"got": got, "errors": errors}
