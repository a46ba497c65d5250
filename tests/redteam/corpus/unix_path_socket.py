"""Connect to a pathname UNIX socket of the host (a filesystem object: netns does not stop it)."""


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
    got, errors = [], []
    mod = _grab("socket")
    if isinstance(mod, BaseException):
        mod = _grab("_socket")
    if isinstance(mod, BaseException):
        return {"got": [], "errors": [f"no socket module: {mod!r}"]}
    try:
        s = mod.socket(mod.AF_UNIX, mod.SOCK_STREAM)
        s.settimeout(1.0)
        s.connect(event["unix_path"])
        s.sendall(b"PWNED-UNIX\n")
        got.append(event["unix_path"])
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
