"""Empty the modules that hold the hardening code's native handles, once hardening is done.

Landlock, the namespaces and the seccomp loader reach the kernel through ``ctypes``: a libc
handle (``runtime.libc``), libseccomp's (``pyseccomp``) and ``ctypes`` itself with its
``pythonapi``. Plugin code runs further down the same stack, so the worker's and the template's
frames, globals and the import policy's forgotten modules all lead back to those modules, and
``sys._getframe`` (however spelled) is enough to walk there. Their namespaces are cleared, so
whatever still names such a module finds nothing in it; they are never used again after
hardening (``rlimits``, used per call, holds no native handle and is kept).

This is defence in depth, like the import policy: once ``_ctypes`` has been initialised in a
process its types stay reachable through ``object.__subclasses__()`` (and its module can be
re-created from the interpreter's extension cache), so native code stays within the threat
model. What matters is denied by the kernel layers on their own (seccomp, the namespaces,
Landlock, the uid), which the layer matrix shows with this layer off.
"""

from __future__ import annotations

import sys
from types import ModuleType

#: Modules whose globals lead to a native handle; the package prefixes cover submodules.
HOLDERS: tuple[str, ...] = (
    "ctypes",
    "pyseccomp",
    "proofpix_plugins.runtime.libc",
    "proofpix_plugins.runtime.sandbox.hardening.landlock",
    "proofpix_plugins.runtime.sandbox.hardening.netns",
    "proofpix_plugins.runtime.sandbox.hardening.prctl",
    "proofpix_plugins.runtime.sandbox.hardening.seccomp",
    "proofpix_plugins.runtime.sandbox.hardening.fsview",
    "proofpix_plugins.runtime.sandbox.hardening.namespaces",
)


def _held(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HOLDERS)


#: The holders, found once in the template: scanning sys.modules in a worker touches every
#: module's refcount and so copies hundreds of shared pages (about 2 ms of each cold load).
_PLANNED: list[ModuleType] = []


def plan() -> None:
    """In the template, before ``gc.freeze()``: find the holders and keep their contents alive.

    A copy of each namespace is leaked on purpose (one extra reference no Python object holds),
    so clearing the namespaces in a worker frees nothing: freeing would write to (and un-share)
    the pages of every object they reach. The copy is frozen with the rest of the template, and
    frozen objects are invisible to ``gc.get_objects()`` and ``gc.get_referrers()``.
    """
    import ctypes

    _PLANNED[:] = [m for n, m in sys.modules.items() if m is not None and _held(n)]
    kept = [dict(vars(m)) for m in _PLANNED]
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(kept))


def drop() -> list[str]:
    """Clear every holder's namespace, whoever still names the module; returns their names."""
    modules = _PLANNED or [m for n, m in sys.modules.items() if m is not None and _held(n)]
    cleared = [m.__name__ for m in modules]
    for module in modules:
        vars(module).clear()
    _PLANNED.clear()
    return cleared
