"""unshare, mount, bpf, keyctl, perf_event_open, userfaultfd, io_uring, setuid back to root."""

import os
import sys


def attack(event, ctx):
    got, errors = {}, []
    try:
        os.setuid(0)
        got["setuid0"] = os.getuid()
    except Exception as exc:
        errors.append(f"setuid: {type(exc).__name__}")
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
        got["raise_nofile"] = True
    except Exception as exc:
        errors.append(f"rlimit: {type(exc).__name__}")
    ctypes = sys.modules.get("ctypes")
    if ctypes is None:
        try:
            import ctypes
        except BaseException as exc:
            errors.append(f"import ctypes: {type(exc).__name__}")
            return {"got": got, "errors": errors}
    libc = ctypes.CDLL(None, use_errno=True)
    calls = {
        "unshare_user": (272, 0x10000000),  # SYS_unshare, CLONE_NEWUSER
        "unshare_mount": (272, 0x00020000),
        "bpf": (321, 0, 0, 0),
        "keyctl": (250, 0, 0, 0),
        "perf_event_open": (298, 0, 0, -1, -1, 0),
        "userfaultfd": (323, 0),
        "io_uring_setup": (425, 1, 0),
        "mount": (165, 0, 0, 0, 0, 0),
    }
    for name, (nr, *args) in calls.items():
        rc = libc.syscall(nr, *args)
        if rc >= 0:
            got[name] = rc
        else:
            errors.append(f"{name}: errno {ctypes.get_errno()}")
    return {"got": got, "errors": errors}
