"""Run a command with subprocess (and its C helper _posixsubprocess if the module is refused)."""


def attack(event, ctx):
    import sys

    marker = event["marker"]
    got, errors = {}, []
    sub = sys.modules.get("subprocess")
    if sub is None:
        try:
            import subprocess as sub  # noqa: S404
        except BaseException as exc:
            errors.append(f"import subprocess: {type(exc).__name__}: {exc}")
    if sub is not None:
        try:
            done = sub.run(["/bin/sh", "-c", f"echo pwned > {marker}"], timeout=2)
            got["rc"] = done.returncode
        except Exception as exc:
            errors.append(f"run: {type(exc).__name__}: {exc}")
    import os

    try:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", f"echo pwned > {marker}.spawn"], {})
        got["posix_spawn"] = os.waitpid(pid, 0)[1]
    except Exception as exc:
        errors.append(f"posix_spawn: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
