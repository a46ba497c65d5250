"""Connect straight to private, link-local and cloud-metadata addresses (no http capability)."""


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


TARGETS = [
    ("169.254.169.254", 80),
    ("10.0.0.1", 80),
    ("192.168.0.1", 80),
    ("172.16.0.1", 80),
    ("100.64.0.1", 80),
    ("fd00::1", 80),
]


def attack(event, ctx):
    got, errors = [], []
    mod = _grab("socket")
    if isinstance(mod, BaseException):
        mod = _grab("_socket")
    if isinstance(mod, BaseException):
        return {"got": [], "errors": [f"no socket module: {mod!r}"]}
    for host, port in TARGETS:
        family = mod.AF_INET6 if ":" in host else mod.AF_INET
        try:
            s = mod.socket(family, mod.SOCK_STREAM)
            s.settimeout(0.3)
            s.connect((host, port))
            got.append(host)
            s.close()
        except Exception as exc:
            errors.append(f"{host}: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
