"""Open file descriptors until the kernel refuses, then keep them (the worker must survive)."""

import os

KEPT: list[int] = []


def attack(event, ctx):
    errors = []
    try:
        while len(KEPT) < 100_000:
            KEPT.append(os.open(__file__, os.O_RDONLY))  # our own file: always readable
    except OSError as exc:
        errors.append(f"{type(exc).__name__}: errno {exc.errno}")
    return {"got": {"opened": len(KEPT)}, "errors": errors}
