"""The soak of bench/load.py, short and small, in CI: a real server under paced mixed traffic.

About 20 seconds of traffic at 70 % of the measured maximum on 500 listings and 5,000 metric
rows (``bench/load.py --soak``; docs/reliability.md has the 10-minute run). The bench's own
criteria are the assertions, with a generous RSS bound (20 s is too short for the 10 % one to
mean much, and a cache filling can weigh more than a leak in so short a run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_short_soak_has_no_errors_and_leaks_no_worker_fd_or_mount() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--soak", "--quick",
         "--listings", "500", "--metric-rows", "5000", "--seconds", "4",
         "--minutes", "0.34", "--rate-fraction", "0.7", "--max-rss-growth", "0.5"],
        capture_output=True, text=True, timeout=150, check=False, cwd=ROOT,
    )
    out = done.stdout + done.stderr
    last = [line for line in done.stdout.splitlines() if line.startswith('{"failed"')]
    assert last, out[-4000:]
    result = json.loads(last[-1])
    soak = result["soak"]
    assert soak["requests"] > 0, out[-4000:]
    assert soak["errors"] == 0, out[-4000:]
    before, after = soak["before"], soak["after"]
    assert after["processes"] <= before["processes"], out[-4000:]
    # fds may grow only by connections the database pool keeps (up to its size).
    assert soak["fds_grown_not_pool"] == 0, out[-4000:]
    assert soak["pool_connections"] <= soak["pool_bound"], out[-4000:]
    assert after["mounts"] == before["mounts"], out[-4000:]
    assert soak["rss_growth"] < 0.5, out[-4000:]
    assert result["failed"] == [], out[-4000:]
    assert done.returncode == 0, out[-4000:]
