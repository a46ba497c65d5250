"""Make a socketpair and try to smuggle fds, or reuse inherited sockets other than the channel."""


def _grab(name):
    """The module, by any route an attacker has: sys.modules, import, importlib."""
    import sys

    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    try:
        return __import__(name)
    except BaseException:
        pass
    try:
        import importlib

        return importlib.import_module(name)
    except BaseException as exc:
        return exc


def attack(event, ctx):
    import os

    got, errors = {}, []
    mod = _grab("socket")
    if isinstance(mod, BaseException):
        mod = _grab("_socket")
    if not isinstance(mod, BaseException):
        try:
            a, b = mod.socketpair()
            got["socketpair"] = [a.fileno(), b.fileno()]
        except Exception as exc:
            errors.append(f"socketpair: {type(exc).__name__}: {exc}")
    try:
        got["fds"] = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in map(int, os.listdir("/proc/self/fd"))}
    except Exception as exc:
        errors.append(f"fds: {type(exc).__name__}")
    return {"got": got, "errors": errors}
