"""Replace the worker with a shell via os.execv (if it worked the worker would be gone)."""

import os


def attack(event, ctx):
    marker = event["marker"]
    errors = []
    for path in ("/bin/sh", "/usr/bin/env", "/proc/self/exe"):
        try:
            os.execv(path, [path, "-c", f"echo pwned > {marker}"])
        except Exception as exc:
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
    return {"got": {}, "errors": errors}
