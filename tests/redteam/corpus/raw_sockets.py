"""Open netlink (routing table), packet (sniffing) and raw IP sockets."""


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
    got, errors = {}, []
    mod = _grab("socket")
    if isinstance(mod, BaseException):
        mod = _grab("_socket")
    if isinstance(mod, BaseException):
        return {"got": {}, "errors": [f"no socket module: {mod!r}"]}
    attempts = {
        "netlink": (16, 3, 0),  # AF_NETLINK, SOCK_RAW, NETLINK_ROUTE
        "packet": (17, 3, 0x0300),  # AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)
        "raw_ip": (2, 3, 1),  # AF_INET, SOCK_RAW, ICMP
        "netlink_audit": (16, 3, 9),
        "vsock": (40, 1, 0),
    }
    for name, (family, kind, proto) in attempts.items():
        try:
            s = mod.socket(family, kind, proto)
            got[name] = f"fd {s.fileno()}"
            if name == "netlink":
                s.bind((0, 0))
                got[name] += " bound"
            s.close()
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
