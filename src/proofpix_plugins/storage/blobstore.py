"""Content-addressed blob storage (artifacts, photos, derived images).

The ``BlobStore`` protocol is the seam; ``FileSystemBlobStore`` is the default. A blob's name is
the sha256 of its bytes, so writing the same content twice is idempotent and concurrent writers
cannot corrupt each other: each writes a private temporary file and renames it into place.

Writes answer with a ``BlobRef`` (digest and size), so no caller needs to know where a blob's
bytes live: the protocol has no path, and an object-store implementation needs none.

Deleting is the garbage collector's alone (``storage/gc.py``): a blob goes when nothing names it
and it was last *put* before a cutoff. Putting content that already exists refreshes that time,
so an install or upload that stored a blob but has not committed its row yet keeps it;
``delete_if_older`` moves the blob aside before its final age check, so a put racing the
collector either refreshes the blob before the move (and it is put back) or finds it gone and
writes it again.

Temporary files live in ``root/.tmp`` and are named after the process that wrote them
(``put.<owner>.*``: a put in progress; ``gc.<owner>.<sha256>.*``: a blob the collector moved
aside). A process killed mid-put (SIGKILL, OOM) leaves its file there; ``sweep_abandoned``, run
at start-up, deletes those of dead owners and puts an abandoned ``gc`` file back where its blob
belongs when nothing is there (a put that raced the collector expected the blob to exist; if no
row names it, the next collection takes it).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from proofpix_plugins.errors import NotFound, ValidationFailed

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024
#: A temporary file not named after an owner (written before owners were named) is removed by the
#: start-up sweep once it has not been written for this long.
_UNOWNED_TMP_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its name (the sha256 of its bytes) and its size in bytes."""

    sha256: str
    size: int


class BlobStore(Protocol):
    """Where immutable bytes live, addressed by their sha256."""

    async def put_bytes(self, data: bytes) -> BlobRef: ...

    async def put_file(self, path: Path) -> BlobRef: ...

    async def get_bytes(self, sha256: str) -> bytes: ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> bool: ...

    async def list_all(self) -> list[str]: ...

    async def list_older_than(self, cutoff: float) -> list[str]:
        """Blobs last put before ``cutoff`` (a Unix time)."""
        ...

    async def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        """Delete the blob if it was still last put before ``cutoff``; whether it was deleted."""
        ...


def check_digest(sha256: str) -> str:
    """Refuse anything but a lowercase hex sha256: names become file paths."""
    if not _SHA256.fullmatch(sha256):
        raise ValidationFailed("not a sha256 digest") from None
    return sha256


class FileSystemBlobStore:
    """Blobs as files ``root/ab/cd/<sha256>``, written atomically.

    ``owner`` names this process in its temporary files (the composition root passes its
    process instance, see ``sweep_abandoned``); it must not contain a dot.
    """

    def __init__(self, root: Path, owner: str = "") -> None:
        self.root = root
        self._tmp = root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._owner = (owner or f"{os.getpid()}-0").replace(".", "-")

    def sweep_abandoned(self, alive: Callable[[str], bool]) -> list[Path]:
        """Clean up the temporary files of processes that died (``alive`` says whether an owner
        still runs); return what was removed or restored."""
        swept: list[Path] = []
        now = time.time()
        for entry in self._tmp.iterdir():
            kind, _, rest = entry.name.partition(".")
            owner, _, tail = rest.partition(".")
            try:
                if kind in ("put", "gc") and owner:
                    if owner == self._owner or alive(owner):
                        continue
                    sha = tail.partition(".")[0]
                    if kind == "gc" and _SHA256.fullmatch(sha):
                        target = self._path(sha)
                        if not target.exists():
                            self._publish(entry, target)
                            swept.append(entry)
                            continue
                elif now - entry.lstat().st_mtime < _UNOWNED_TMP_SECONDS:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    continue
                entry.unlink()
                swept.append(entry)
            except FileNotFoundError:
                continue
        return swept

    def _path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put_bytes(self, data: bytes) -> BlobRef:
        return await asyncio.to_thread(self._put_bytes, data)

    async def put_file(self, path: Path) -> BlobRef:
        return await asyncio.to_thread(self._put_file, path)

    async def get_bytes(self, sha256: str) -> bytes:
        path = self._path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} not found") from None

    async def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    async def delete(self, sha256: str) -> bool:
        try:
            self._path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    async def list_all(self) -> list[str]:
        return await self.list_older_than(float("inf"))

    async def list_older_than(self, cutoff: float) -> list[str]:
        def scan() -> list[str]:
            found = []
            for p in self.root.glob("??/??/*"):
                if not _SHA256.fullmatch(p.name):
                    continue
                try:
                    if p.stat().st_mtime < cutoff:
                        found.append(p.name)
                except FileNotFoundError:
                    continue
            return sorted(found)

        return await asyncio.to_thread(scan)

    async def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        return await asyncio.to_thread(self._delete_if_older, sha256, cutoff)

    def _delete_if_older(self, sha256: str, cutoff: float) -> bool:
        target = self._path(sha256)
        aside = self._tmp / f"gc.{self._owner}.{sha256}.{os.urandom(4).hex()}"
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= cutoff:
            # Put again since it was listed: it is wanted. A put that found it missing meanwhile
            # wrote the same bytes, so replacing is harmless.
            os.replace(aside, target)
            return False
        aside.unlink()
        return True

    @staticmethod
    def _refresh(target: Path) -> bool:
        """Mark an existing blob as just put (see the module docstring); False if it is gone."""
        try:
            os.utime(target)
        except FileNotFoundError:
            return False
        return True

    def _put_bytes(self, data: bytes) -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        target = self._path(sha)
        if not self._refresh(target):
            fd, tmp = tempfile.mkstemp(prefix=f"put.{self._owner}.", dir=self._tmp)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                self._publish(Path(tmp), target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return BlobRef(sha, len(data))

    def _put_file(self, path: Path) -> BlobRef:
        # One pass: the copy is hashed as it is written, so the source is read once (it may be
        # an upload of hundreds of MB) and the digest names exactly the bytes that were copied.
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as src:
            fd, tmp_name = tempfile.mkstemp(prefix=f"put.{self._owner}.", dir=self._tmp)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        dst.write(chunk)
                        size += len(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
                target = self._path(digest.hexdigest())
                if self._refresh(target):
                    tmp.unlink()
                else:
                    self._publish(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return BlobRef(digest.hexdigest(), size)

    @staticmethod
    def _publish(tmp: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o644)
        # rename is atomic: a reader sees the whole blob or none; a racing writer of the same
        # content replaces it with identical bytes.
        os.replace(tmp, target)
