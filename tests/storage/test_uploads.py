"""The upload spool: per process under the data dir; a dead process's spool is swept, a live
one's never; and upload file names are display text, normalised."""

from __future__ import annotations

import os
from pathlib import Path

from proofpix_plugins.runtime.host.procfs import instance_alive, process_instance
from proofpix_plugins.storage.uploads import UploadSpool, clean_filename


def test_a_spool_sweeps_dead_processes_roots_and_never_a_live_ones(tmp_path: Path) -> None:
    base = tmp_path / "uploads"
    other_live = UploadSpool(base, process_instance(1), instance_alive)  # init runs for good
    other_live.prepare()
    (other_live.root / "upload-in-flight").write_bytes(b"x")
    dead = base / "999999999-12345-0"  # no such pid
    dead.mkdir()
    (dead / "upload-abandoned").write_bytes(b"x")
    reused = base / f"{os.getpid()}-1-0"  # our pid, another start time: a dead predecessor
    reused.mkdir()

    mine = UploadSpool(base, process_instance(os.getpid()), instance_alive)
    assert sorted(mine.prepare()) == sorted([dead, reused])
    assert (other_live.root / "upload-in-flight").exists()
    assert mine.root.is_dir()
    assert mine.root.stat().st_mode & 0o077 == 0
    mine.close()
    assert not mine.root.exists()
    assert other_live.root.exists()


def test_filenames_lose_control_and_bidi_characters_and_any_path() -> None:
    assert clean_filename("a\x00b\tc\x7f\x85.jpg") == "abc.jpg"
    assert clean_filename("photo\u202egpj.exe") == "photogpj.exe"
    assert clean_filename("dir\\sub/..\\x.png") == "x.png"
    assert clean_filename("  \x00 ") == ""
    assert clean_filename("n" * 300) == "n" * 255
    assert clean_filename("caf\u0065\u0301.jpg") == "caf\u00e9.jpg"
    assert clean_filename("\U0001f4f7 sunset.jpg") == "\U0001f4f7 sunset.jpg"
