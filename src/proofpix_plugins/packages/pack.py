"""Packing a plugin's source tree into a ``.ppx`` (author tooling: ``plugin pack``, tests).

The tree is the author's own, so this side trusts it more than ``archive.py`` trusts a package,
but not blindly: symlinks and special files are refused rather than followed, and what a
package must not carry (VCS and cache dirs, hidden files, bytecode, earlier artifacts) is left
out. The archive is deterministic, so its sha256 names the tree, not the moment it was packed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Final

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.archive import BYTECODE_SUFFIXES, display_name
from proofpix_plugins.packages.errors import PackageError

_FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)
_ARTIFACTS: Final = (".ppx", ".ppx.sig")
_SKIP_DIRS: Final = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", ".tox",
                               ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"})


def _err(name: str, message: str, rule: str) -> FieldError:
    return FieldError(display_name(name), message, rule)


def collect_source_files(src_dir: Path) -> list[tuple[str, Path]]:
    """The files ``write_archive`` packs, as (archive name, path), sorted by name.

    Skips VCS/cache directories, hidden files and bytecode; refuses symlinks and special files
    rather than silently following or dropping them.
    """
    if not src_dir.is_dir():
        raise PackageError("cannot pack", [FieldError(str(src_dir), "is not a directory",
                                                       "PPX-ARC-NOT-DIR")])
    out: list[tuple[str, Path]] = []
    errors: list[FieldError] = []
    for dirpath, dirnames, filenames in os.walk(src_dir, followlinks=False):
        base = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d in _SKIP_DIRS or d.startswith("."):
                continue
            if (base / d).is_symlink():
                errors.append(_err(str((base / d).relative_to(src_dir)), "is a symbolic link",
                                   "PPX-ARC-SYMLINK"))
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            path = base / name
            rel = path.relative_to(src_dir).as_posix()
            # Hidden files, bytecode and package artifacts (say, the .ppx of the previous
            # `pack` into this same directory) never belong in a package.
            if name.startswith(".") or name.endswith(BYTECODE_SUFFIXES + _ARTIFACTS):
                continue
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                errors.append(_err(rel, "is a symbolic link", "PPX-ARC-SYMLINK"))
            elif not stat.S_ISREG(mode):
                errors.append(_err(rel, "is a special file", "PPX-ARC-SPECIAL-FILE"))
            else:
                out.append((rel, path))
    if errors:
        raise PackageError("cannot pack", errors)
    return sorted(out)


def write_archive(src_dir: Path, out: Path) -> str:
    """Pack ``src_dir`` into ``out`` deterministically (sorted names, fixed times); return sha256.

    Same tree → same bytes → same sha256, so a package's identity does not depend on who packed it
    or when. ``out`` is written to a temporary file first and renamed into place.
    """
    files = collect_source_files(src_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".ppx-", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            for rel, path in files:
                info = zipfile.ZipInfo(rel, date_time=_FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, path.read_bytes(), compresslevel=6)
        with tmp.open("rb") as check:
            sha256 = hashlib.file_digest(check, "sha256").hexdigest()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha256
