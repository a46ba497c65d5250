"""A second seccomp filter, built per worker: calls that take a pid may name only the caller.

``prlimit64``, ``setpriority`` and the ``sched_set*`` family act on any process of the same uid,
and Landlock does not scope them (it scopes signals and ptrace only), so a plugin sharing a uid
with another, or holding native code, could lower another worker's limits or starve it. The
kernel itself decides here: the pid argument must be 0 (self) or the worker's own pid.

libseccomp (as packaged here) refuses two comparisons on one argument in a rule, and "not 0 and
not me" needs two, so this small program is assembled by hand. The syscall numbers come from
libseccomp in the template (:func:`resolve`), so nothing here is specific to one architecture;
the worker only adds its pid. Stacked seccomp filters all run and the strictest answer wins, so
this filter only ever adds denials to the main one.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Mapping
from dataclasses import dataclass

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_ABS_W = 0x20
_JEQ_K = 0x15
_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_EPERM = 0x00050000 | errno.EPERM
# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
_NR, _ARCH, _ARGS = 0, 4, 16
PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1


@dataclass(frozen=True)
class Rule:
    """Allowed only when ``arg`` is 0 or the caller's pid and each ``equal`` (arg, value) holds."""

    arg: int
    equal: tuple[tuple[int, int], ...] = ()


#: The calls that name a target process by pid, and where the pid is.
RULES: dict[str, Rule] = {
    "prlimit64": Rule(0),
    "sched_setaffinity": Rule(0),
    "sched_setscheduler": Rule(0),
    "sched_setparam": Rule(0),
    "sched_setattr": Rule(0),
    "migrate_pages": Rule(0),
    "move_pages": Rule(0),
    # which == PRIO_PROCESS: PRIO_PGRP and PRIO_USER would reach every process of the uid.
    "setpriority": Rule(1, ((0, PRIO_PROCESS),)),
    "getpriority": Rule(1, ((0, PRIO_PROCESS),)),
    "ioprio_set": Rule(1, ((0, IOPRIO_WHO_PROCESS),)),
    "ioprio_get": Rule(1, ((0, IOPRIO_WHO_PROCESS),)),
}


@dataclass(frozen=True)
class Table:
    """What the template resolves once: the audit arch and each rule's syscall number."""

    arch: int
    numbers: Mapping[str, int]


def resolve() -> Table:
    """Look the syscall numbers up with libseccomp for this machine (runs in the template)."""
    import pyseccomp

    arch = pyseccomp.system_arch()
    numbers: dict[str, int] = {}
    for name in RULES:
        try:
            nr = pyseccomp.resolve_syscall(arch, name)
        except (OSError, ValueError):
            continue
        if nr >= 0:  # negative: a pseudo-number for a call this arch does not have
            numbers[name] = nr
    return Table(arch=arch, numbers=numbers)


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    if not (0 <= jt < 256 and 0 <= jf < 256):
        raise ValueError("BPF jump out of range")
    return struct.pack("=HBBI", code, jt, jf, k)


def _arg_equals(arg: int, value: int) -> list[tuple[int, int, str, str]]:
    """Instructions (as (code, k, on-true, on-false) with labels) testing args[arg] == value."""
    lo, hi = value & 0xFFFFFFFF, value >> 32
    return [
        (_LD_ABS_W, _ARGS + 8 * arg + 4, "", ""),  # high word (little-endian layout)
        (_JEQ_K, hi, "next", "deny"),
        (_LD_ABS_W, _ARGS + 8 * arg, "", ""),
        (_JEQ_K, lo, "next", "deny"),
    ]


def build(table: Table, pid: int) -> bytes:
    """The program for a worker whose pid is ``pid`` (runs in the worker, after the fork)."""
    if pid <= 0:
        raise ValueError("pid must be positive")
    # Per rule: a block that ends in its own ALLOW and DENY, so every jump stays short.
    blocks: list[list[bytes]] = []
    for name in table.numbers:
        rule = RULES[name]
        steps: list[tuple[int, int, str, str]] = []
        for arg, value in rule.equal:
            steps += _arg_equals(arg, value)
        off = _ARGS + 8 * rule.arg
        steps += [
            (_LD_ABS_W, off + 4, "", ""),
            (_JEQ_K, 0, "next", "deny"),  # a pid never has high bits: anything else is refused
            (_LD_ABS_W, off, "", ""),
            (_JEQ_K, 0, "allow", "next"),
            (_JEQ_K, pid, "allow", "deny"),
        ]
        n = len(steps)
        allow_at, deny_at = n, n + 1
        code: list[bytes] = []
        for i, (op, k, on_true, on_false) in enumerate(steps):
            if op != _JEQ_K:
                code.append(_insn(op, k))
                continue
            target = {"next": i + 1, "allow": allow_at, "deny": deny_at}
            code.append(_insn(op, k, target[on_true] - i - 1, target[on_false] - i - 1))
        code += [_insn(_RET_K, RET_ALLOW), _insn(_RET_K, RET_EPERM)]
        blocks.append(code)
    # Head: another arch is the main filter's business; dispatch on the syscall number.
    # A foreign arch skips the LD NR and every dispatch JEQ, landing on RET ALLOW.
    head = [_insn(_LD_ABS_W, _ARCH), _insn(_JEQ_K, table.arch, 0, len(blocks) + 1),
            _insn(_LD_ABS_W, _NR)]
    start = 0
    jumps: list[bytes] = []
    for i, (nr, block) in enumerate(zip(table.numbers.values(), blocks, strict=True)):
        # From JEQ i, the block starts after the remaining JEQs, the RET ALLOW and earlier blocks.
        jumps.append(_insn(_JEQ_K, nr, (len(blocks) - i - 1) + 1 + start, 0))
        start += len(block)
    body = head + jumps + [_insn(_RET_K, RET_ALLOW)] + [b for block in blocks for b in block]
    return b"".join(body)
