"""A deterministic unprivileged uid/gid per (organization, plugin) when the host is root."""

from __future__ import annotations

import hashlib
import os

#: Reserved range, far above distribution-assigned ids and the usual subuid blocks' start.
UID_BASE = 3_000_000
UID_SPAN = 1_000_000


def plugin_uid(org_id: str, plugin_id: str) -> int:
    """Same pair, same uid on every host and restart, so scratch ownership stays valid."""
    digest = hashlib.sha256(f"{org_id}\0{plugin_id}".encode()).digest()
    return UID_BASE + int.from_bytes(digest[:8], "big") % UID_SPAN


def available() -> bool:
    return os.geteuid() == 0


def drop_to(uid: int, gid: int) -> None:
    """Irrevocably become uid/gid with no supplementary groups (real, effective, saved)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError(1, "uid drop did not stick")
