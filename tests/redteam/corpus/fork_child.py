"""fork() a child that outlives the call and writes a marker (a process the host cannot see)."""

import os


def attack(event, ctx):
    marker = event["marker"]
    try:
        pid = os.fork()
    except Exception as exc:
        return {"got": {}, "errors": [f"fork: {type(exc).__name__}: {exc}"]}
    if pid == 0:  # the child: write the marker and linger
        try:
            with open(marker, "w") as fh:
                fh.write("pwned")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return {"got": {"child": pid}, "errors": []}
