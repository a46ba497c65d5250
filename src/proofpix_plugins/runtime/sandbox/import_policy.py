"""Which modules plugin code may import inside the worker: defence in depth, not the boundary.

The kernel layers are the boundary; this only turns obviously hostile imports into a clear
error (and a recorded event) instead of an EPERM deep inside a library. Everything allowed is
pre-imported by the template, because after the uid drop the interpreter's own files may be
unreadable (a Python installed under a 0700 home directory).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

#: Standard-library modules a photo plugin may use; their submodules are allowed too.
STDLIB_ALLOWED: tuple[str, ...] = (
    "abc", "array", "base64", "binascii", "bisect", "builtins", "bz2", "calendar", "cmath",
    "codecs", "collections", "colorsys", "contextlib", "contextvars", "copy", "copyreg", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "encodings", "enum", "errno", "fnmatch",
    "fractions", "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "io",
    "ipaddress", "itertools", "json", "keyword", "linecache", "locale", "logging", "lzma",
    "math", "mimetypes", "numbers", "operator", "os", "pathlib", "posixpath", "pprint", "queue",
    "random", "re", "reprlib", "secrets", "shlex", "shutil", "stat", "statistics", "string",
    "struct", "sys", "tempfile", "textwrap", "threading", "time", "token", "tokenize",
    "traceback", "types", "typing", "unicodedata", "urllib.parse", "uuid", "warnings", "weakref",
    "xml.etree", "xml.dom.minidom", "zipfile", "zlib", "zoneinfo", "_strptime", "_weakrefset",
    "genericpath", "sre_compile", "sre_parse", "sre_constants", "_collections_abc", "importlib",
    "proofpix_sdk",
)  # fmt: skip

#: Third-party packages a permission unlocks.
PERMISSION_MODULES: dict[str, str] = {"PIL": "images", "cryptography": "crypto"}

#: Never importable by plugin code, whatever it was granted: process, network, native code,
#: interpreter introspection and the host's own code.
NEVER: tuple[str, ...] = (
    "ctypes", "_ctypes", "cffi", "_cffi_backend", "subprocess", "_posixsubprocess", "socket",
    "_socket", "ssl", "_ssl", "select", "selectors", "asyncio", "multiprocessing",
    "_multiprocessing", "concurrent", "pty", "tty", "fcntl", "termios", "resource", "mmap",
    "signal", "_signal", "gc", "inspect", "pickle", "_pickle", "marshal", "shelve", "dbm",
    "sqlite3", "http", "urllib.request", "urllib.error", "ftplib", "smtplib", "poplib",
    "imaplib", "telnetlib", "socketserver", "xmlrpc", "webbrowser", "pyseccomp", "code",
    "codeop", "pdb", "bdb", "faulthandler", "tracemalloc", "sysconfig", "zipimport",
    "proofpix_plugins", "msgspec", "orjson",
)  # fmt: skip


def _matches(name: str, prefixes: frozenset[str] | dict[str, str]) -> str | None:
    """The listed package ``name`` is or lies inside (checks each dotted parent: O(depth))."""
    if name in prefixes:
        return name
    dot = name.find(".")
    while dot != -1:
        if name[:dot] in prefixes:
            return name[:dot]
        dot = name.find(".", dot + 1)
    return None


_NEVER = frozenset(NEVER)
_GATING = frozenset(PERMISSION_MODULES.values())
_ALLOWED = frozenset(STDLIB_ALLOWED)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    permission: str = ""


class ImportPolicy:
    """Decides per module name; the plugin's own package is always allowed."""

    def __init__(self, permissions: Iterable[str], own_package: str) -> None:
        self.permissions = frozenset(permissions)
        self.own = own_package.split(".")[0]
        self.gated_key = self.permissions & _GATING

    def decide(self, name: str) -> Decision:
        if name.split(".")[0] == self.own:
            return Decision(True)
        if _matches(name, _NEVER):
            return Decision(False, f"import of {name!r} is never allowed in the sandbox")
        gated = _matches(name, PERMISSION_MODULES)
        if gated is not None:
            needed = PERMISSION_MODULES[gated]
            if needed in self.permissions:
                return Decision(True)
            return Decision(
                False, f"import of {name!r} needs the {needed!r} permission", needed
            )
        if _matches(name, _ALLOWED) or name in sys.builtin_module_names:
            return Decision(True)
        return Decision(False, f"import of {name!r} is not in the sandbox's allowed modules")

    def must_forget(self, name: str) -> bool:
        """Whether an already-imported module must leave the cache (so importing it re-asks).

        Only explicitly refused modules are dropped: interpreter internals the runtime already
        imported (``_io``) stay, or the import machinery itself would break. ``zipimport`` is
        refused and goes (``install`` also takes its hook off ``sys.path_hooks``).
        """
        if name.split(".")[0] == self.own:
            return False
        if _matches(name, _NEVER):
            return True
        gated = _matches(name, PERMISSION_MODULES)
        return gated is not None and PERMISSION_MODULES[gated] not in self.permissions


class PolicyFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: refuses what the policy refuses, else defers."""

    def __init__(self, policy: ImportPolicy, on_block: Callable[[str, str], None]) -> None:
        self.policy = policy
        self.on_block = on_block

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        decision = self.policy.decide(fullname)
        if not decision.allowed:
            self.on_block(fullname, decision.permission)
            raise ImportError(decision.reason, name=fullname)
        return None


_FORGOTTEN: list[ModuleType] = []
_FORGOTTEN_FINDERS: list[dict[str, Any]] = []


def install(policy: ImportPolicy, plugin_root: str, on_block: Callable[[str, str], None]) -> None:
    """Drop refused modules from the cache, put the finder first, search only the plugin tree.

    Modules already imported by the runtime stay referenced where the runtime uses them; only a
    fresh ``import`` by plugin code goes through the finder.
    """
    # Keep the forgotten modules referenced: freeing them would write to (and so un-share)
    # megabytes of pages the worker inherited from the template.
    planned = _PLANS.get(policy.gated_key)
    names = planned if planned is not None else [n for n in sys.modules if policy.must_forget(n)]
    _FORGOTTEN.extend(sys.modules.pop(n) for n in names if n in sys.modules)
    if planned is not None:  # the plugin's own package was never imported by the template
        late = sys.modules.keys() - _PLANNED_FROM
        _FORGOTTEN.extend(sys.modules.pop(n) for n in late if policy.must_forget(n))
    sys.meta_path.insert(0, PolicyFinder(policy, on_block))
    # Directories only: no zipimporter, so a zip hidden in the tree and put on sys.path or a
    # package's __path__ gets no finder (the scanner refuses such archives by content too).
    sys.path_hooks[:] = [h for h in sys.path_hooks if _is_file_finder_hook(h)]
    sys.path[:] = [plugin_root]
    _FORGOTTEN_FINDERS.append(dict(sys.path_importer_cache))
    sys.path_importer_cache.clear()
    sys.dont_write_bytecode = True


def _is_file_finder_hook(hook: Callable[[str], Any]) -> bool:
    """FileFinder.path_hook's closure: it accepts directories only."""
    return getattr(hook, "__name__", "") == "path_hook_for_FileFinder"


#: Names to forget per set of held gating permissions, computed once in the template.
_PLANS: dict[frozenset[str], list[str]] = {}
_PLANNED_FROM: frozenset[str] = frozenset()


def plan_forgetting() -> None:
    """Precompute, in the template, which modules each permission combination forgets.

    Scanning ~1,000 module names per worker start cost about a millisecond of every cold load.
    """
    global _PLANNED_FROM
    gating = sorted(set(PERMISSION_MODULES.values()))
    names = list(sys.modules)
    _PLANNED_FROM = frozenset(names)
    for mask in range(1 << len(gating)):
        held = frozenset(p for i, p in enumerate(gating) if mask >> i & 1)
        policy = ImportPolicy(held, "\0")  # no real package is named NUL
        _PLANS[held] = [n for n in names if policy.must_forget(n)]


def preload(extra: Iterable[str] = ()) -> list[str]:
    """Import every allowed module now (in the template); returns the ones that failed."""
    import importlib

    failed: list[str] = []
    for name in (*STDLIB_ALLOWED, *PRELOAD_EXTRA, *extra):
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module is reported, not fatal
            failed.append(name)
    return failed


#: Submodules used lazily by allowed packages, imported up front for the same reason.
PRELOAD_EXTRA: tuple[str, ...] = (
    "encodings.idna", "encodings.latin_1", "encodings.ascii", "encodings.utf_16",
    "encodings.utf_32", "encodings.cp1252", "encodings.unicode_escape",
    "encodings.raw_unicode_escape", "collections.abc", "logging.handlers", "json.decoder",
    "json.encoder", "xml.etree.ElementTree", "importlib.util", "importlib.resources",
    "PIL.Image", "PIL.ImageOps", "PIL.ImageFilter", "PIL.ImageDraw", "PIL.ImageFont",
    "PIL.ImageEnhance", "PIL.ImageChops", "PIL.ImageStat", "PIL.ExifTags", "PIL.TiffImagePlugin",
    "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "PIL.WebPImagePlugin", "PIL.GifImagePlugin",
    "cryptography.fernet", "cryptography.hazmat.primitives.hashes",
    "cryptography.hazmat.primitives.hmac", "cryptography.hazmat.primitives.serialization",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "cryptography.hazmat.primitives.asymmetric.padding",
    "cryptography.hazmat.primitives.ciphers.aead", "cryptography.hazmat.primitives.kdf.hkdf",
    "cryptography.hazmat.primitives.kdf.pbkdf2", "cryptography.x509",
)  # fmt: skip
