"""Plugin uids allocated from a machine-wide table, so no two loaded plugins ever share one.

A uid is a per-machine resource: two processes with the same uid may ``prlimit``, renice or
re-pin each other, and own each other's files and IPC objects, and Landlock scopes none of that.
The old ``3_000_000 + sha256(org, plugin) mod 1_000_000`` was public and small, so a plugin id
could be chosen to land on another plugin's uid. This table hands out uids in order from the
same reserved range instead:

* one uid per (organization, plugin) among everything loaded on the machine, by any API process
  (the file lives under /run and is guarded by ``flock``; every process and pool shares it);
* a pool is a *holder* of the uids it loaded, named ``<pid>-<start time>-<n>`` so a dead
  process's holds are recognised and dropped; an entry without holders is retired;
* a retired uid comes back only after the cursor has gone round the whole range, and even then
  not while any process on the machine still runs with it (a worker of the old owner that
  outlived its pool), checked in ``/proc``.

The table records the boot it was written in and starts over after a reboot (when no worker can
be alive), also where /run is not a tmpfs. Scratch dirs are chowned at every load, so nothing on
disk depends on a plugin keeping its uid.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proofpix_plugins.runtime.errors import LoadError
from proofpix_plugins.runtime.host.procfs import instance_alive
from proofpix_plugins.runtime.sandbox.hardening.uid import UID_BASE, UID_SPAN, plugin_uid

#: Where every API process on the machine looks; RuntimeConfig.uid_table overrides it.
DEFAULT_PATH = Path("/run/proofpix/plugin-uids.json")


class UidTable:
    """One pool's view of the machine-wide table: acquire at load, release at unload/close."""

    def __init__(self, path: Path, holder: str, *, enabled: bool = True) -> None:
        self.path = path
        self.holder = holder
        #: TEST-ONLY when False (the ``uid_table`` layer switched off): the old public hash.
        self.enabled = enabled
        self._mine: dict[tuple[str, str], int] = {}

    def acquire(self, org_id: str, plugin_id: str) -> int:
        key = (org_id, plugin_id)
        if not self.enabled:
            self._mine[key] = plugin_uid(org_id, plugin_id)
            return self._mine[key]
        with self._locked() as table:
            owners: dict[str, dict[str, Any]] = table["owners"]
            for held, entry in owners.items():
                if (entry["org"], entry["plugin"]) == key:
                    if self.holder not in entry["holders"]:
                        entry["holders"].append(self.holder)
                    self._mine[key] = int(held)
                    return int(held)
            uid = _next_free(table)
            owners[str(uid)] = {"org": org_id, "plugin": plugin_id, "holders": [self.holder]}
        self._mine[key] = uid
        return uid

    def uid(self, org_id: str, plugin_id: str) -> int:
        """The uid acquired for this plugin (the pool asks between load and unload)."""
        try:
            return self._mine[(org_id, plugin_id)]
        except KeyError:
            raise LoadError(f"{plugin_id} of {org_id} holds no uid (not loaded)") from None

    def release(self, org_id: str, plugin_id: str) -> None:
        if self._mine.pop((org_id, plugin_id), None) is None or not self.enabled:
            return
        with self._locked() as table:
            for uid, entry in list(table["owners"].items()):
                if (entry["org"], entry["plugin"]) == (org_id, plugin_id):
                    with contextlib.suppress(ValueError):
                        entry["holders"].remove(self.holder)
                    if not entry["holders"]:
                        del table["owners"][uid]

    def release_all(self) -> None:
        for key in list(self._mine):
            self.release(*key)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The table, read under an exclusive lock and written back atomically on success."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                          0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            table = _read(self.path)
            _forget_dead_holders(table)
            yield table
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table, separators=(",", ":")))
            os.replace(tmp, self.path)
        finally:
            os.close(lock_fd)


def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as fh:
        return fh.read().strip()


def _read(path: Path) -> dict[str, Any]:
    boot = _boot_id()
    try:
        table: dict[str, Any] = json.loads(path.read_text())
        if (isinstance(table.get("owners"), dict) and isinstance(table.get("next"), int)
                and table.get("boot") == boot):
            return table
    except (OSError, ValueError):
        pass  # missing, unreadable or of another boot: start over
    # Holders of another boot are all dead; still trust no uid until /proc has been asked.
    return {"boot": boot, "next": UID_BASE, "owners": {}, "check_live": True}


def _forget_dead_holders(table: dict[str, Any]) -> None:
    owners: dict[str, dict[str, Any]] = table["owners"]
    for uid, entry in list(owners.items()):
        entry["holders"] = [h for h in entry["holders"] if instance_alive(h)]
        if not entry["holders"]:
            del owners[uid]  # retired: not handed out again before the cursor wraps


def _next_free(table: dict[str, Any]) -> int:
    owners: dict[str, Any] = table["owners"]
    live = _live_uids() if table.pop("check_live", False) else set()
    uid: int = table["next"]
    for _ in range(UID_SPAN):
        if uid >= UID_BASE + UID_SPAN:
            uid = UID_BASE
            live = _live_uids()  # a wrap reaches retired uids: skip any still running
        if str(uid) not in owners and uid not in live:
            table["next"] = uid + 1
            return uid
        uid += 1
    raise LoadError("every plugin uid is in use on this machine")


def _live_uids() -> set[int]:
    """Every real, effective or saved uid of a process on this machine, in our range."""
    found: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        found.update(int(u) for u in line.split()[1:4])
                        break
        except OSError:
            continue
    return {u for u in found if UID_BASE <= u < UID_BASE + UID_SPAN}
