"""kit/heap_trim.py: freed C-heap pages go back to the OS, and the app trims on its own.

Measured in a child process (its own heap and RSS, nothing else of the test run in it): 64 MiB
of 100 KB buffers (below glibc's mmap threshold, so from the heap), all freed but the last
(which pins the heap's top, so ``free`` cannot shrink it): resident until ``malloc_trim``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from proofpix_plugins.kit.heap_trim import malloc_trim
from tests.fixtures.app import StartApp, build_test_settings

pytestmark = pytest.mark.skipif(malloc_trim() is None, reason="no glibc malloc_trim here")

CHILD = """
import ctypes, sys
from proofpix_plugins.kit.heap_trim import malloc_trim

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
blocks = []
for _ in range(640):
    p = libc.malloc(100_000)
    libc.memset(p, 1, 100_000)  # touched: resident
    blocks.append(p)
start = rss_mib()
for p in blocks[:-1]:
    libc.free(p)
freed = rss_mib()
if sys.argv[1] == "trim":
    malloc_trim()()
print(start, freed, rss_mib())
"""


def _child(mode: str) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    start, freed, end = (float(x) for x in out)
    return start, freed, end


def test_freed_heap_pages_stay_resident_until_trimmed() -> None:
    start, freed, end = _child("keep")
    assert freed > start - 16, (start, freed, end)  # glibc kept them
    assert end > start - 16, (start, freed, end)
    start, freed, end = _child("trim")
    assert end < start - 48, (start, freed, end)  # given back: most of the 64 MiB


async def test_the_app_trims_every_interval_and_stops_with_it(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp,
) -> None:
    settings = build_test_settings(sqlite_db_url, tmp_path / "data", memory_trim_seconds=0.05)
    async with start_app(settings) as app:
        task = app.state.heap_trim_task
        assert task is not None
        assert not task.done()
        await asyncio.sleep(0.2)  # a few trims, and the task runs on
        assert not task.done()
    assert task.done()
    off = build_test_settings(sqlite_db_url, tmp_path / "data2", memory_trim_seconds=0)
    async with start_app(off) as app:
        assert app.state.heap_trim_task is None
