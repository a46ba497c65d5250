"""The machine-wide plugin uid table: unique uids, shared per plugin, never reused too early."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from proofpix_plugins.runtime.host.uid_table import UidTable
from proofpix_plugins.runtime.sandbox.hardening.uid import UID_BASE, UID_SPAN, plugin_uid


def _me(n: int) -> str:
    """A holder name for this (live) process, as a pool names itself."""
    with open("/proc/self/stat") as fh:
        start = fh.read().rsplit(")", 1)[1].split()[19]
    return f"{os.getpid()}-{start}-{n}"


def _boot() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_a_table_of_another_boot_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "uids.json"
    path.write_text(json.dumps({"boot": "another-boot", "next": UID_BASE + 7, "owners": {
        str(UID_BASE + 3): {"org": "org-1", "plugin": "acme.x", "holders": [_me(9)]}}}))
    uid = UidTable(path, _me(0)).acquire("org-2", "acme.y")
    table = json.loads(path.read_text())
    assert table["boot"] == _boot()
    assert list(table["owners"]) == [str(uid)]  # the other boot's holder is gone
    assert UID_BASE <= uid < UID_BASE + 7  # the cursor restarted (skipping only live uids)


def test_every_loaded_plugin_gets_its_own_uid(tmp_path: Path) -> None:
    table = UidTable(tmp_path / "uids.json", _me(0))
    uids = {table.acquire(f"org-{i % 3}", f"p{i}") for i in range(30)}
    assert len(uids) == 30
    assert all(UID_BASE <= u < UID_BASE + UID_SPAN for u in uids)


def test_a_plugin_loaded_by_two_pools_keeps_one_uid(tmp_path: Path) -> None:
    path = tmp_path / "uids.json"
    a, b = UidTable(path, _me(1)), UidTable(path, _me(2))
    uid = a.acquire("org-1", "acme.x")
    assert b.acquire("org-1", "acme.x") == uid
    a.release("org-1", "acme.x")
    # Still held by b: nobody else may get it.
    assert a.acquire("org-2", "acme.y") != uid
    assert b.uid("org-1", "acme.x") == uid


def test_a_released_uid_is_not_handed_out_again_before_the_range_wraps(tmp_path: Path) -> None:
    table = UidTable(tmp_path / "uids.json", _me(0))
    first = table.acquire("org-1", "acme.x")
    table.release("org-1", "acme.x")
    assert table.acquire("org-2", "acme.y") != first
    assert table.acquire("org-1", "acme.x") != first


def test_a_dead_pools_holds_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "uids.json"
    dead = "999999999-1-0"  # no such pid
    path.write_text(json.dumps({"boot": _boot(), "next": UID_BASE + 5, "owners": {
        str(UID_BASE + 4): {"org": "org-1", "plugin": "acme.x", "holders": [dead]}}}))
    table = UidTable(path, _me(0))
    assert table.acquire("org-1", "acme.x") == UID_BASE + 5  # a new uid, the old one retired
    assert str(UID_BASE + 4) not in json.loads(path.read_text())["owners"]


def test_after_a_wrap_a_uid_still_running_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "uids.json"
    last = UID_BASE + UID_SPAN - 1
    path.write_text(json.dumps({"boot": _boot(), "next": last, "owners": {}}))
    # A process of the old owner of UID_BASE outlived its pool.
    survivor = subprocess.Popen(["sleep", "30"], user=UID_BASE, group=UID_BASE)
    try:
        table = UidTable(path, _me(0))
        assert table.acquire("org-1", "acme.x") == last
        assert table.acquire("org-1", "acme.y") == UID_BASE + 1
    finally:
        survivor.kill()
        survivor.wait()


def test_with_the_table_switched_off_the_public_hash_is_used(tmp_path: Path) -> None:
    table = UidTable(tmp_path / "uids.json", _me(0), enabled=False)
    assert table.acquire("org-1", "acme.x") == plugin_uid("org-1", "acme.x")
    assert not (tmp_path / "uids.json").exists()
