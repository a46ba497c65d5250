"""Give the C heap's free pages back to the operating system after bursts (glibc only).

An upload decodes and re-encodes images in the server (Pillow's buffers, tens of MiB each), and
glibc's allocator keeps what a burst freed: its mmap threshold grows to the size of the largest
freed block, so later large buffers come from the heap, and freed heap pages in the middle of
the heap stay resident. The server's RSS then tracks its highest burst, not its load (the soak
of bench/load.py read +14 % after a last burst of uploads, +6 % ten seconds before). Every
``PROOFPIX_MEMORY_TRIM_SECONDS`` (10 s; 0 disables) the app calls ``malloc_trim(0)``, which
returns the heap's free pages (``madvise(MADV_DONTNEED)`` on each, since glibc 2.8), in a
thread so the event loop never waits on the allocator's locks. Elsewhere than glibc (musl,
macOS) there is nothing to call and nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
from collections.abc import Callable

import structlog
from fastapi import FastAPI

log = structlog.get_logger(__name__)


def malloc_trim() -> Callable[[], bool] | None:
    """``malloc_trim(0)`` of this process's C library; None where there is none (not glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> bool:
        return bool(trim(0))

    return call


async def _every(seconds: float, trim: Callable[[], bool]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(trim)
        except Exception:  # never fatal: memory stays as it was
            log.exception("heap_trim_failed")


async def start_heap_trim(app: FastAPI) -> None:
    seconds = app.state.settings.memory_trim_seconds
    trim = malloc_trim() if seconds > 0 else None
    app.state.heap_trim_task = (
        asyncio.create_task(_every(seconds, trim), name="heap-trim") if trim else None)


async def stop_heap_trim(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "heap_trim_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
