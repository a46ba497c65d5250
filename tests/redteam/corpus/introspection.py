"""Hunt for host objects: __subclasses__, frames, gc referrers, sys.modules, builtins."""

import sys


def attack(event, ctx):
    canaries = event["canaries"]
    gc = sys.modules.get("gc")
    if gc is None:
        try:
            gc = __import__("gc")
        except BaseException:
            gc = None
    found = {}
    host_types = {"WorkerPool", "HookBus", "MemoryBroker", "Settings", "AsyncEngine", "FastAPI"}

    subclasses = object.__subclasses__()
    todo = list(subclasses)
    seen = set()
    while todo:
        cls = todo.pop()
        if id(cls) in seen:
            continue
        seen.add(id(cls))
        if cls.__name__ in host_types:
            found[f"class:{cls.__module__}.{cls.__name__}"] = True
        try:
            todo.extend(cls.__subclasses__())
        except TypeError:
            pass

    frame = sys._getframe()
    depth = 0
    while frame is not None:
        for name, value in list(frame.f_globals.items()) + list(frame.f_locals.items()):
            if type(value).__name__ in host_types:
                found[f"frame{depth}:{name}"] = type(value).__name__
        frame = frame.f_back
        depth += 1

    objects = gc.get_objects() if gc is not None else []
    found["gc_available"] = gc is not None
    for obj in objects:
        if type(obj).__name__ in host_types:
            found[f"gc:{type(obj).__name__}"] = True
        if isinstance(obj, dict):
            for v in obj.values():
                if isinstance(v, str) and any(c in v for c in canaries):
                    found["gc:canary"] = v
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                if isinstance(v, str) and any(c in v for c in canaries):
                    found["gc:canary"] = v
    for ref in gc.get_referrers(ctx) if gc is not None else []:
        if type(ref).__name__ in host_types:
            found["referrer"] = type(ref).__name__
    found["modules"] = sorted(
        m for m in sys.modules
        if m.startswith(("sqlalchemy", "fastapi", "uvicorn", "proofpix_plugins.plugins",
                         "proofpix_plugins.config", "proofpix_plugins.runtime.host.pool"))
    )
    return {"got": found, "errors": []}
