"""`make bench` runs every benchmark, then reports the misses and only then fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_bench_runs_every_benchmark_and_summarises_the_misses(tmp_path: Path) -> None:
    (tmp_path / "first.py").write_text("print('first ran'); raise SystemExit(1)\n")
    (tmp_path / "second.py").write_text("print('second ran')\n")
    (tmp_path / "third.py").write_text("print('third ran'); raise SystemExit(1)\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)

    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "bench", "BENCHES=first second third",
         f"BENCH_DIR={tmp_path}", f"BIN={bin_dir}", "STAMP=Makefile"],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert result.returncode != 0
    for name in ("first", "second", "third"):
        assert f"{name} ran" in result.stdout
    assert "missed a goal or failed: first third" in result.stdout
