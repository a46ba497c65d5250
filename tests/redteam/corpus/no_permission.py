"""Use every capability without holding its permission, through the SDK and around it."""


def _channels(ctx):
    """Objects with a ``request(cap, args)`` method: the SDK's way to the host."""
    import sys

    seen, todo = [], [ctx]
    for name in dir(ctx):
        try:
            value = getattr(ctx, name)
        except Exception:
            continue
        todo.append(value)
        for inner in dir(value) if not isinstance(value, (str, int, float)) else []:
            if inner.startswith("_"):
                try:
                    todo.append(getattr(value, inner))
                except Exception:
                    pass
    gc = sys.modules.get("gc")
    if gc is not None:
        todo.extend(o for o in gc.get_objects() if "Channel" in type(o).__name__)
    for obj in todo:
        req = getattr(type(obj), "request", None)
        if callable(req) and not any(obj is s for s in seen) and not isinstance(obj, type):
            seen.append(obj)
    return seen


RAW = [
    ("files.read", {}), ("files.info", {}), ("images.open", {}),
    ("storage.get", {"key": "k"}), ("storage.set", {"key": "stolen", "value": 1}),
    ("storage.keys", {}), ("metadata.get", {}), ("metadata.set", {"values": {"pwned": 1}}),
    ("http.request", {"method": "GET", "url": "http://127.0.0.1/"}),
    ("http", {"method": "GET", "url": "http://127.0.0.1/"}),
    ("secrets.get", {"key": "apiKey"}), ("events.emit", {"name": "acme:x", "data": {}}),
    ("events.call", {"hook": "acme:x", "data": {}}), ("crypto.sha256", {"data": b"x"}),
]


def attack(event, ctx):
    got, errors = {}, []
    sdk_attempts = {
        "files.read": lambda: ctx.files.read(),
        "files.info": lambda: ctx.files.info(),
        "storage.set": lambda: ctx.storage.set("stolen", "yes"),
        "storage.get": lambda: ctx.storage.get("k"),
        "metadata.set": lambda: ctx.metadata.set({"pwned": True}),
        "metadata.get": lambda: ctx.metadata.get(),
        "http.get": lambda: ctx.http.get(event["url"]),
        "secrets.get": lambda: ctx.secrets.get("apiKey"),
        "events.emit": lambda: ctx.events.emit("acme:pwned", {}),
        "events.call": lambda: ctx.events.call("acme:pwned", {}),
        "images.open": lambda: ctx.images.open(),
    }
    for name, fn in sdk_attempts.items():
        try:
            got[name] = repr(fn())[:500]
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}")
    for channel in _channels(ctx):
        for cap, args in RAW:
            try:
                got[f"raw:{cap}"] = repr(channel.request(cap, args))[:500]
            except Exception as exc:
                errors.append(f"raw {cap}: {type(exc).__name__}")
    got["config"] = dict(ctx.config)
    return {"got": got, "errors": errors}
