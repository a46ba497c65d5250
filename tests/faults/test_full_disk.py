"""A full disk under the data dir (blobs, spool, plugin trees, SQLite): a size-capped tmpfs.

Uploads and installs that do not fit answer 507 problem+json ("nothing was kept"), never a 500,
and leave nothing half-written; once space is freed the same request succeeds (issue #17).
The disk is filled to several levels so the request runs out of space at different steps: while
the body is spooled, while the blob is stored, while the package is extracted, while SQLite
writes its rows.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from proofpix_plugins.runtime.host import scratch_fs
from tests.app.servers import (
    Server,
    base_env,
    create_admin,
    install,
    login,
)
from tests.faults.killing import leftovers, require_root_for, restart
from tests.plugins.builders import build_ppx, manifest

pytestmark = pytest.mark.slow

EMAIL = "disk@example.com"
DISK_MB = 8
CLEAN = "def on_upload(event, ctx):\n    return {}\n"


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """An 8 MiB tmpfs at a fresh dir under /tmp (traversable by the sandbox's uids)."""
    require_root_for("mounting a size-capped tmpfs")
    root = Path(subprocess.check_output(["mktemp", "-d", "/tmp/proofpix-disk-XXXXXX"],
                                        text=True).strip())
    root.chmod(0o711)
    mount = root / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0711", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["rm", "-rf", str(root)], check=False)
        if os.environ.get("PROOFPIX_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"mount -t tmpfs failed: {done.stderr.strip()}")
        pytest.skip(f"mount -t tmpfs failed: {done.stderr.strip()}")
    try:
        yield root
    finally:
        # The server's scratch tmpfs mounts live under the data dir: those first.
        for mounted in scratch_fs.mounted_under(mount):
            with contextlib.suppress(OSError):
                scratch_fs.unmount(mounted)
        subprocess.run(["umount", "-l", str(mount)], check=False)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(data: Path, leave: int) -> Path:
    """A filler file that leaves ``leave`` bytes free (roughly: tmpfs counts whole pages)."""
    filler = data / "filler"
    filler.unlink(missing_ok=True)
    size = max(free_bytes(data) - leave, 0)
    with filler.open("wb") as fh:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            fh.write(chunk[:n])
            size -= n
    return filler


def levels(needed: int, step: int = 16 * 1024) -> list[int]:
    """Free-space levels to try: a few coarse ones below ``needed``, then ``step``s past it."""
    coarse = [16 * 1024, needed // 4, needed // 2, needed - 256 * 1024]
    fine = range(needed - 128 * 1024, needed + 1024 * 1024, step)
    return [level for level in (*coarse, *fine) if level > 0]


def photo() -> bytes:
    """An incompressible PNG of about 1.7 MB."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (760, 760), os.urandom(760 * 760 * 3)).save(buf, format="PNG")
    return buf.getvalue()


def package(root: Path) -> Path:
    """A package whose tree is larger than its archive (extraction needs more space)."""
    body = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(800))
    extra = {f"plugin/m{j}.py": body for j in range(3)}
    return build_ppx(root, manifest("acme.disk", "1.0.0", hooks=[
        {"name": "file:uploaded", "handler": "on_upload"}]), CLEAN, extra=extra)


def rows(data: Path, table: str) -> list[tuple[str, int]]:
    column = "size_bytes" if table in ("files", "blobs") else "0"
    sha = "artifact_sha256" if table == "plugins" else "sha256"
    with contextlib.closing(sqlite3.connect(data / "proofpix.db")) as db:
        query = f"SELECT {sha}, {column} FROM {table}"  # noqa: S608 - fixed names, no input
        return [(str(s), int(n)) for s, n in db.execute(query)]


def check_clean(data: Path) -> None:
    """Every row's blob is whole; no spool, staging or blob temp file is left."""
    for table in ("files", "blobs", "plugins"):
        for sha, size in rows(data, table):
            blob = data / "blobs" / sha[:2] / sha[2:4] / sha
            assert blob.is_file(), f"{table} row names missing blob {sha}"
            if table != "plugins":
                assert blob.stat().st_size == size, f"{table} row names truncated blob {sha}"
    assert leftovers(data) == []


def check_refused(r: httpx.Response) -> None:
    assert r.status_code in (201, 507), r.text
    if r.status_code == 507:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["title"] == "Insufficient Storage"


def test_a_full_disk_answers_507_keeps_nothing_and_the_request_succeeds_once_freed(
    small_disk: Path, servers: list[Server], sqlite_template: Path
) -> None:
    data = small_disk / "data"
    env = base_env(data, PROOFPIX_JOBS_POLL_SECONDS="0.2")
    # The server's own SQLite database, on the small disk too (migrated: the suite's template).
    shutil.copyfile(sqlite_template, data / "proofpix.db")
    create_admin(env, EMAIL)
    server = restart(small_disk, env, servers)
    auth = login(server.base, EMAIL)
    image = photo()
    ppx = package(small_disk)
    with zipfile.ZipFile(ppx) as zf:
        tree_size = sum(info.file_size for info in zf.infolist())
    answers: dict[str, list[int]] = {"upload": [], "install": []}

    # From "not even the spool fits" up, in steps, to the first level where everything fits: the
    # request runs out of space at each of its steps in turn (spool, blob, tree, database).
    for leave in levels(2 * len(image)):
        fill(data, leave)
        r = httpx.post(f"{server.base}/api/files", headers=auth, timeout=60,
                       files={"file": ("photo.png", image, "image/png")})
        check_refused(r)
        answers["upload"].append(r.status_code)
        if r.status_code == 201:
            break
        check_clean(data)
        assert rows(data, "files") == []
    for leave in levels(2 * ppx.stat().st_size + tree_size, 32 * 1024):
        fill(data, leave)
        r = install(server.base, auth, ppx)
        check_refused(r)
        answers["install"].append(r.status_code)
        if r.status_code == 201:
            break
        check_clean(data)
        assert rows(data, "plugins") == []
        assert not list((data / "plugins").glob("*/acme.disk/*"))
    assert answers["upload"][-1] == 201, answers
    assert answers["install"][-1] == 201, answers
    assert 507 in answers["upload"], answers
    assert 507 in answers["install"], answers

    # Space freed: the same requests succeed again (a second file of the same bytes; the
    # plugin's next version), and the server never answered a 500.
    (data / "filler").unlink()
    r = httpx.post(f"{server.base}/api/files", headers=auth, timeout=60,
                   files={"file": ("photo.png", image, "image/png")})
    assert r.status_code == 201, r.text
    check_clean(data)
    assert len(rows(data, "files")) == 2
    assert len(rows(data, "plugins")) == 1
    assert " 500 " not in server.output()
    server.stop()
