"""Native calls without ``ctypes``, ``importlib`` or any reference the worker keeps.

Shared by corpus plugins (the harness copies it into each plugin package as ``_native.py``).
Once ``_ctypes`` has been initialised in a process, its types stay reachable from
``object.__subclasses__()``; a function pointer looked up in ``RTLD_DEFAULT`` (handle 0) is a
libc call. This is why the import policy and the dropped handles are defence in depth only, and
the kernel layers must refuse what matters on their own.
"""


def _types():
    found, todo, seen = {}, [object], set()
    while todo:
        cls = todo.pop()
        if id(cls) in seen:
            continue
        seen.add(id(cls))
        if cls.__module__ == "_ctypes":
            found.setdefault(cls.__name__, cls)
        try:
            todo.extend(cls.__subclasses__())
        except TypeError:
            todo.extend(type.__subclasses__(cls))
    return found


class Native:
    """``call(name, *args)`` → the C function's int result (``pointer=True``: its pointer or
    long result); ``buf(n)`` a writable buffer."""

    def __init__(self):
        t = _types()
        simple, array, funcptr = t["_SimpleCData"], t["Array"], t["CFuncPtr"]
        self.c_long = type("c_long", (simple,), {"_type_": "l"})
        self.c_char = type("c_char", (simple,), {"_type_": "c"})
        self.c_void_p = type("c_void_p", (simple,), {"_type_": "P"})
        self._array = array
        self._fn = type("Fn", (funcptr,), {"_flags_": 1, "_restype_": self.c_long})
        self._default = type("Default", (), {"_handle": 0})()  # RTLD_DEFAULT
        self._cache = {}

    def buf(self, size, data=b""):
        kind = type("Buf", (self._array,), {"_type_": self.c_char, "_length_": size})
        b = kind()
        for i, ch in enumerate(data):
            b[i] = bytes([ch])
        return b

    def call(self, name, *args, pointer=False):
        fn = self._cache.get(name)
        if fn is None:
            fn = self._cache[name] = self._fn((name, self._default))
        conv = [self.c_long(a) if isinstance(a, int) else a for a in args]
        result = fn(*conv)
        if pointer:
            return result
        result &= 0xFFFFFFFF  # an int return: the upper half of the register is not defined
        return result - (1 << 32) if result >= 1 << 31 else result
