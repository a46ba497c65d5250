"""The rules a plugin's declarations follow, each defined once: names, bounds and defaults.

``packages/manifest.py`` checks them when a package is published, the worker pool and the hook
bus again when a plugin is loaded and called. The runtime never imports ``packages/``, so they
live here and the manifest imports them; what the manifest accepts, the runtime loads.

The permission vocabulary lives here too: the manifest's ``permissions`` field is typed by
:data:`Permission`, :func:`~proofpix_plugins.runtime.spec.validate_spec` refuses anything outside
:data:`PERMISSIONS`, and ``packages/permissions.py`` adds what only people read (descriptions).

The module names a plugin must not take (:data:`RESERVED_TOP_LEVEL`) are one set for the
publish-time structure check (``packages/structure.py``, every top-level module of the archive)
and for :func:`~proofpix_plugins.runtime.spec.validate_spec` (the entry's top level, all the
runtime sees). The two used to differ, the former reserving the standard library, the SDK and the
interpreter's start-up hooks, the latter the standard library and the names the sandbox's import
policy knows. The set is their union, the stricter reading of both: a start-up hook is never a
plugin's module, and a plugin whose package is named like a library the import policy gates or
refuses (``PIL``, ``cryptography``, ``msgspec``) would be taken for the plugin's own package and
pass the policy unchecked.

The fixed per-worker bounds no declaration changes (open files, file size, tasks) are here as
well, so every resource bound of a worker is in one place: ``host/pool.py`` hands them to the
template with each spawn request, the worker applies them (``sandbox/hardening/rlimits.py``,
``host/cgroup.py``). They are constants, not :class:`~.config.RuntimeConfig` settings: they are
security bounds that the red-team suite and docs/security-model.md hold at these values, no
plugin or deployment has needed others (a photo plugin opens a handful of files, and the scratch
tmpfs caps what many files can fill), and a setting would be one more way to weaken the sandbox
by configuration. What an operator does tune (the scratch tmpfs size and inodes, pool size) is in
``RuntimeConfig``.

Host names in ``network.allow`` have their own home beside the guard that matches them:
``egress/hosts.py``.
"""

from __future__ import annotations

import keyword
import re
import sys
from typing import Final, Literal, get_args

from proofpix_plugins.runtime.sandbox.import_policy import NEVER, PERMISSION_MODULES, STDLIB_ALLOWED

# -- permissions (SPEC §2 ``permissions``) -------------------------------------------------------

#: The eight permissions of SPEC §2, in the order the SPEC lists them. This is the one listing:
#: the tuple and the set below are read from it.
Permission = Literal[
    "files", "images", "metadata", "storage", "http", "crypto", "events", "secrets"
]
PERMISSION_ORDER: Final[tuple[Permission, ...]] = get_args(Permission)
#: Anything else in a manifest or a spec is refused.
PERMISSIONS: Final[frozenset[str]] = frozenset(PERMISSION_ORDER)

# -- hooks ----------------------------------------------------------------------------------------

#: SPEC §2: ``namespace:event`` names, lower case (``file:uploaded``, ``acme:done``).
HOOK_NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)+")
#: The width of the ``hook_name`` columns (plugin hooks, file results), so a name the bus
#: routes can always be stored; the manifest, the bus and ``ctx.events.call`` all cap at it.
HOOK_NAME_MAX_LENGTH: Final = 100

#: A handler is a function name in the entry module; 100 as for hook names.
HANDLER_MAX_LENGTH: Final = 100

#: SPEC §2: priority 0-100, higher runs first.
PRIORITY_MIN: Final = 0
PRIORITY_MAX: Final = 100
PRIORITY_DEFAULT: Final = 50

# -- entry module ---------------------------------------------------------------------------------

ENTRY_DEFAULT: Final = "plugin"
ENTRY_MAX_LENGTH: Final = 100
#: Dotted parts of the entry module path (``pkg.sub.main`` has three).
ENTRY_MAX_PARTS: Final = 8

#: Top-level names no module of a plugin may take, the entry's first: the standard library, the
#: interpreter's start-up hooks, the SDK and the host, and every library the import policy
#: allows, gates behind a permission or refuses (see the module docstring).
RESERVED_TOP_LEVEL: Final[frozenset[str]] = frozenset(
    {
        *sys.stdlib_module_names,
        "sitecustomize", "usercustomize", "proofpix_sdk", "proofpix_plugins",
        *PERMISSION_MODULES,
        *(name.split(".")[0] for name in (*NEVER, *STDLIB_ALLOWED)),
    }
)  # fmt: skip

# -- resources (SPEC §2 ``resources``) ------------------------------------------------------------

MEMORY_MB_MIN: Final = 16
MEMORY_MB_MAX: Final = 1024
MEMORY_MB_DEFAULT: Final = 256
#: The floor for a declared timeout; a per-call ``timeout`` option may go lower (down to 1 ms,
#: see ``hooks/options.py``): a nested call gets whatever is left of its caller's budget.
TIMEOUT_MS_MIN: Final = 10
#: SPEC §2 caps ``resources.timeout_ms`` and SPEC §4 the ``timeout`` call option at 30 s.
TIMEOUT_MS_MAX: Final = 30_000
TIMEOUT_MS_DEFAULT: Final = 5000
#: ``cpu_seconds`` must be > 0 and at most this; unset, :func:`call_cpu_seconds` derives it.
CPU_SECONDS_MAX: Final = 300

# -- fixed per-worker bounds (not declared, not settings: see the module docstring) -------------

#: RLIMIT_NOFILE: descriptors a worker may hold, its channel and stdio included.
WORKER_OPEN_FILES: Final = 64
#: RLIMIT_FSIZE in MiB: the largest file a worker may write (EFBIG past it).
WORKER_FILE_SIZE_MB: Final = 64
#: The worker cgroup's ``pids.max``: threads a worker may run (it counts tasks); seccomp refuses
#: fork anyway.
WORKER_PIDS_MAX: Final = 32

# -- values the worker protocol carries (config, hook data) ----------------------------------------

#: msgpack integers are int64 or uint64: what lies outside cannot reach a worker at all.
WIRE_INT_MIN: Final = -(2**63)
WIRE_INT_MAX: Final = 2**64 - 1

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_hook_name(value: object) -> bool:
    """A hook name the manifest may declare, the bus route and ``ctx.events.call`` name."""
    return (
        isinstance(value, str)
        and len(value) <= HOOK_NAME_MAX_LENGTH
        and HOOK_NAME_PATTERN.fullmatch(value) is not None
    )


def is_identifier(value: object) -> bool:
    """An ASCII Python identifier that is not a keyword: a name a ``def`` or module can have."""
    return (
        isinstance(value, str)
        and _IDENTIFIER.fullmatch(value) is not None
        and not keyword.iskeyword(value)
    )


def is_handler_name(value: object) -> bool:
    """A hook handler: a function name in the entry module, at most 100 characters."""
    return is_identifier(value) and len(str(value)) <= HANDLER_MAX_LENGTH


def is_entry_module(value: object) -> bool:
    """An importable module path such as ``plugin`` or ``pkg.main``."""
    if not isinstance(value, str) or len(value) > ENTRY_MAX_LENGTH:
        return False
    parts = value.split(".")
    return len(parts) <= ENTRY_MAX_PARTS and all(is_identifier(p) for p in parts)


def is_reserved_top_level(name: str) -> bool:
    """Whether a plugin module at the top level named ``name`` would shadow a library module."""
    return name in RESERVED_TOP_LEVEL


def call_cpu_seconds(cpu_seconds: float | None, timeout_ms: int) -> float:
    """The CPU seconds one call may burn (the worker arms RLIMIT_CPU with it): the declared
    ``cpu_seconds``, or else the call's wall-clock budget in seconds plus one."""
    return cpu_seconds if cpu_seconds is not None else timeout_ms / 1000 + 1


def wire_int_overflows(value: object, limit: int = 20) -> list[tuple[str | int, ...]]:
    """Paths (key and index tuples) of the integers in ``value`` that msgpack cannot carry.

    Walks JSON-like data (dicts, lists, tuples) without recursion, so any depth is safe; stops
    after ``limit`` paths. Bools are ints to Python, never out of range.
    """
    found: list[tuple[str | int, ...]] = []
    stack: list[tuple[tuple[str | int, ...], object]] = [((), value)]
    while stack and len(found) < limit:
        path, node = stack.pop()
        if isinstance(node, int) and not isinstance(node, bool):
            if not WIRE_INT_MIN <= node <= WIRE_INT_MAX:
                found.append(path)
        elif isinstance(node, dict):
            stack.extend(((*path, str(k)), v) for k, v in reversed(list(node.items())))
        elif isinstance(node, list | tuple):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))
    return found


# -- what a worker may send, and what one call may ask of the host (docs/security-model.md,
# "Host availability"). Fixed bounds like the ones above: the red team holds them. -------------

#: Objects (every scalar, string, container, key) in one frame from a worker. Decoding costs
#: per object, not per byte: a few MB of empty lists cost seconds and ten times their size.
FRAME_MAX_OBJECTS: Final = 100_000
#: Nesting of one frame, its message map and a capability's argument map included.
FRAME_MAX_DEPTH: Final = 64
#: Frames above this many bytes (or with more containers than FRAME_MAX_DEPTH) are measured
#: and decoded in a thread, so the event loop never pays for a large one; the warm call's
#: frames are a few hundred bytes and stay inline.
INLINE_DECODE_BYTES: Final = 64 * 1024
#: A hook result, as msgpack.
RESULT_MAX_BYTES: Final = 1024 * 1024
#: One log frame from a worker; larger ones are dropped and counted.
LOG_FRAME_MAX_BYTES: Final = 64 * 1024
#: One capability request: the largest argument a capability takes (images.save_derived's
#: 32 MiB image) and room for the rest.
CAP_FRAME_MAX_BYTES: Final = 33 * 1024 * 1024

#: Host-side caps on one plugin log line: the message, how many fields, each field's rendered
#: value, the whole line; and the log bytes one top-level call may write.
LOG_MSG_MAX_CHARS: Final = 4000
LOG_FIELDS_MAX: Final = 32
LOG_FIELD_MAX_CHARS: Final = 1000
LOG_LINE_MAX_BYTES: Final = 8 * 1024
LOG_BYTES_PER_CALL: Final = 256 * 1024

#: Capability replies the host wrote that the worker has not read, counted when it sends its
#: next request (an honest worker reads each reply before asking again): past this the worker
#: is killed (``crashed``). One request is in flight at a time (a second is a protocol error).
UNREAD_REPLY_MAX_BYTES: Final = 1024 * 1024

#: Capability requests one top-level call may make, nested calls included, whatever the
#: capability (refused ones too); each capability also has its own count and bytes budget
#: (``host/capabilities.py``, BUDGETS).
CAP_REQUESTS_PER_CALL: Final = 2000
#: ``crypto.sha256`` / ``crypto.hmac_sha256`` input, per request (was 32 MiB).
CRYPTO_MAX_BYTES: Final = 4 * 1024 * 1024
#: Hashing above this many bytes runs in a thread (hashlib releases the GIL).
CRYPTO_INLINE_BYTES: Final = 64 * 1024
#: ``permission_denied`` events one top-level call records; past it they are counted and
#: recorded once, as one event with the count, when the call ends.
DENIED_EVENTS_PER_CALL: Final = 10
