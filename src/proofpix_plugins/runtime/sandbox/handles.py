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


def drop() -> list[str]:
    """Clear every holder's namespace (in sys.modules or not); returns the names cleared."""
    cleared = []
    for name, module in list(sys.modules.items()):
        if module is not None and _held(name):
            vars(module).clear()
            cleared.append(name)
    return cleared
