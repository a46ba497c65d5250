"""Connect over TCP (IPv4 and IPv6) to listeners on the host's loopback."""


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


def _socket_module():
    for name in ("socket", "_socket"):
        mod = _grab(name)
        if not isinstance(mod, BaseException):
            return mod
    return None


def attack(event, ctx):
    got, errors = [], []
    sock_mod = _socket_module()
    if sock_mod is None:
        return {"got": [], "errors": ["no socket module reachable"]}
    for family, host, port in (
        (sock_mod.AF_INET, "127.0.0.1", event["tcp_port"]),
        (sock_mod.AF_INET6, "::1", event.get("tcp6_port") or 0),
    ):
        if not port:
            continue
        try:
            s = sock_mod.socket(family, sock_mod.SOCK_STREAM)
            s.settimeout(1.0)
            s.connect((host, port))
            s.sendall(b"PWNED-TCP\n")
            got.append(f"{host}:{port}")
            s.close()
        except Exception as exc:
            errors.append(f"{host}:{port}: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
