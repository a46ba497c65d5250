"""Reading and extracting ``.ppx`` archives without trusting a single byte of them.

A package is hostile input. ``read_archive`` validates the whole central directory (names, types,
sizes, ratios, overlaps) before anything is decompressed; every later read is bounded by the sizes
it approved. ``extract_archive`` is the only function that writes package files: it creates each
path component itself relative to directory file descriptors with ``O_NOFOLLOW``/``O_EXCL``, so
neither a crafted name nor a symlink planted during extraction can make it write outside ``dest``.
The author-side writer is ``packages/pack.py``.

Longer than our ~400-line norm on purpose: validation and extraction share the approved entry list
and its bounds, and keeping them together keeps the trust boundary inside one module.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from proofpix_plugins.errors import FieldError, InsufficientStorage, is_disk_full
from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES

NATIVE_SUFFIXES: Final = (".so", ".pyd", ".dll", ".exe", ".dylib", ".o", ".a", ".lib", ".node")
BYTECODE_SUFFIXES: Final = (".pyc", ".pyo")
_CHUNK: Final = 64 * 1024
#: Entries this small cannot be a meaningful bomb; tiny repetitive files compress absurdly well.
RATIO_EXEMPT_BYTES: Final = 4096
#: Bytes of every entry's head that content checks (magic numbers) look at.
HEAD_BYTES: Final = 4096


@dataclass(frozen=True)
class ArchiveLimits:
    """SPEC §2 limits; tests and callers may tighten them."""

    max_entries: int = 2000
    max_compressed_bytes: int = 50 * 1024 * 1024
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_ratio: float = 100.0
    max_name_bytes: int = 255
    max_depth: int = 16


DEFAULT_LIMITS: Final = ArchiveLimits()


@dataclass(frozen=True)
class ArchiveEntry:
    """One approved entry: a normalized relative path and its declared sizes."""

    name: str
    size: int
    compressed_size: int
    is_dir: bool


@dataclass(frozen=True)
class PackageArchive:
    """A validated archive: its identity (sha256 of the bytes), listing and manifest bytes."""

    path: Path
    sha256: str
    size: int
    entries: tuple[ArchiveEntry, ...]
    manifest_bytes: bytes
    limits: ArchiveLimits = field(default=DEFAULT_LIMITS)

    @property
    def files(self) -> tuple[ArchiveEntry, ...]:
        return tuple(e for e in self.entries if not e.is_dir)

    @property
    def uncompressed_size(self) -> int:
        return sum(e.size for e in self.entries)


def display_name(name: str) -> str:
    """A file name made safe for reports and terminals: controls escaped, length bounded."""
    shown = name.encode("unicode_escape", "backslashreplace").decode("ascii")
    return shown if len(shown) <= 200 else shown[:197] + "..."


def _err(name: str, message: str, rule: str, value: object = None) -> FieldError:
    return FieldError(display_name(name), message, rule, value)


def _name_errors(info: zipfile.ZipInfo, limits: ArchiveLimits) -> list[FieldError]:
    raw = info.orig_filename
    name = raw
    errors: list[FieldError] = []
    if not name or "\x00" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return [_err(name, "has an empty name or control characters", "PPX-ARC-BAD-NAME")]
    if len(name.encode("utf-8", "surrogateescape")) > limits.max_name_bytes:
        errors.append(_err(name, f"name is longer than {limits.max_name_bytes} bytes",
                           "PPX-ARC-BAD-NAME"))
    if "\\" in name:
        errors.append(_err(name, "contains a backslash", "PPX-ARC-BACKSLASH"))
    if name.startswith("/"):
        errors.append(_err(name, "is an absolute path", "PPX-ARC-ABSOLUTE-PATH"))
    if len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha():
        errors.append(_err(name, "starts with a drive letter", "PPX-ARC-DRIVE-LETTER"))
    parts = name.rstrip("/").replace("\\", "/").split("/")
    if ".." in parts:
        errors.append(_err(name, "contains a '..' component (zip slip)", "PPX-ARC-PATH-TRAVERSAL"))
    inner = parts[1:] if name.startswith("/") else parts
    if any(p in ("", ".") for p in inner):
        errors.append(_err(name, "has an empty or '.' path component", "PPX-ARC-BAD-NAME"))
    if len(parts) > limits.max_depth:
        errors.append(_err(name, f"is nested deeper than {limits.max_depth} levels",
                           "PPX-ARC-BAD-NAME"))
    return errors


_SPECIAL_TYPES = frozenset({stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK})


def _type_errors(info: zipfile.ZipInfo) -> list[FieldError]:
    name = info.orig_filename
    errors: list[FieldError] = []
    # Only the file-type bits decide: Python's zipfile.writestr and Windows tools store
    # permission bits with no type at all (S_IFMT == 0), which is an ordinary file.
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        errors.append(_err(name, "is a symbolic link", "PPX-ARC-SYMLINK"))
    elif file_type in _SPECIAL_TYPES:
        errors.append(_err(name, "is a device, FIFO, socket or other special file",
                           "PPX-ARC-SPECIAL-FILE", oct(file_type)))
    if info.flag_bits & 0x1:
        errors.append(_err(name, "is encrypted", "PPX-ARC-ENCRYPTED"))
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        errors.append(_err(name, "uses a compression method other than stored or deflate",
                           "PPX-ARC-COMPRESSION", info.compress_type))
    lower = name.lower()
    base = lower.rsplit("/", 1)[-1]
    if lower.endswith(NATIVE_SUFFIXES) or ".so." in base:
        errors.append(_err(name, "is native code", "PPX-ARC-NATIVE-CODE"))
    if lower.endswith(BYTECODE_SUFFIXES) or "__pycache__/" in lower or lower.startswith(
        "__pycache__"
    ):
        errors.append(_err(name, "is compiled Python bytecode", "PPX-ARC-BYTECODE"))
    return errors


def _size_errors(info: zipfile.ZipInfo, limits: ArchiveLimits) -> list[FieldError]:
    if info.file_size > RATIO_EXEMPT_BYTES and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        ratio = info.file_size / max(info.compress_size, 1)
        return [_err(info.orig_filename,
                     f"compression ratio {ratio:.0f} exceeds {limits.max_ratio:.0f} (zip bomb)",
                     "PPX-ARC-RATIO", round(ratio, 1))]
    return []


def _overlap_errors(infos: list[zipfile.ZipInfo]) -> list[FieldError]:
    # Overlapping entries let one compressed stream be counted many times (Fifield's zip bomb).
    errors: list[FieldError] = []
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for prev, nxt in itertools.pairwise(ordered):
        name_len = len(prev.orig_filename.encode())
        minimum_end = prev.header_offset + 30 + name_len + prev.compress_size
        if nxt.header_offset < minimum_end:
            errors.append(_err(nxt.orig_filename, "overlaps another entry's data",
                               "PPX-ARC-OVERLAP"))
    return errors


def _normalized(name: str) -> str:
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _conflict_errors(infos: list[zipfile.ZipInfo]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    files: set[str] = set()
    dirs: set[str] = set()
    for info in infos:
        key = _normalized(info.orig_filename)
        if key in seen:
            errors.append(_err(info.orig_filename,
                               "is a duplicate name (exactly, by case or by Unicode form)",
                               "PPX-ARC-DUPLICATE"))
        seen.add(key)
        parts = key.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        (dirs if info.orig_filename.endswith("/") else files).add(key)
    for name in sorted(files & dirs):
        errors.append(_err(name, "is both a file and a directory", "PPX-ARC-DUPLICATE"))
    return errors


def _open_zip(fh: IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(fh)
    # zipfile raises a zoo of exceptions on crafted input (struct.error, IndexError, ...);
    # whatever it raises, the answer for a hostile archive is the same rejection.
    except Exception as exc:
        raise PackageError("not a readable zip archive", [FieldError(
            "(archive)", f"is not a readable zip archive: {str(exc)[:120]}", "PPX-ARC-NOT-ZIP"
        )]) from None


def _hash_file(fh: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    fh.seek(0)
    return digest.hexdigest(), size


def _validate(zf: zipfile.ZipFile, limits: ArchiveLimits) -> tuple[ArchiveEntry, ...]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise PackageError("archive rejected", [FieldError(
            "(archive)", f"has {len(infos)} entries, more than {limits.max_entries}",
            "PPX-ARC-TOO-MANY-ENTRIES", len(infos),
        )])
    errors: list[FieldError] = []
    for info in infos:
        errors += _name_errors(info, limits)
        errors += _type_errors(info)
        errors += _size_errors(info, limits)
    errors += _conflict_errors(infos)
    errors += _overlap_errors(infos)
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        errors.append(FieldError(
            "(archive)", f"expands to {total} bytes, more than {limits.max_uncompressed_bytes}",
            "PPX-ARC-TOO-LARGE", total,
        ))
    if not any(i.orig_filename == MANIFEST_NAME for i in infos):
        errors.append(FieldError(MANIFEST_NAME, "is missing at the archive root",
                                 "PPX-ARC-NO-MANIFEST"))
    if errors:
        raise PackageError("archive rejected", errors)
    return tuple(
        ArchiveEntry(i.orig_filename.rstrip("/") if i.is_dir() else i.orig_filename,
                     i.file_size, i.compress_size, i.is_dir())
        for i in infos
    )


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """Read one member fully, never more than ``limit`` bytes, translating zip errors."""
    try:
        with zf.open(name) as member:
            data = member.read(limit + 1)
    except Exception as exc:  # see _open_zip: any failure to decode is a corrupt entry
        raise PackageError("archive rejected", [_err(
            name, f"cannot be read: {str(exc)[:120]}", "PPX-ARC-CORRUPT"
        )]) from None
    if len(data) > limit:
        raise PackageError("archive rejected", [_err(
            name, f"is larger than {limit} bytes", "PPX-ARC-TOO-LARGE"
        )])
    return data


def _read_manifest(zf: zipfile.ZipFile) -> bytes:
    size = zf.getinfo(MANIFEST_NAME).file_size
    if size > MAX_MANIFEST_BYTES:
        raise PackageError("plugin.json is invalid", [FieldError(
            MANIFEST_NAME, f"is larger than {MAX_MANIFEST_BYTES} bytes", "PPX-MAN-TOO-LARGE", size
        )])
    return _read_member(zf, MANIFEST_NAME, MAX_MANIFEST_BYTES)


def _check_size(path: Path, limits: ArchiveLimits) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PackageError("archive unreadable", [FieldError(
            "(archive)", f"cannot be read: {exc.strerror}", "PPX-ARC-NOT-ZIP"
        )]) from None
    if size > limits.max_compressed_bytes:
        raise PackageError("archive rejected", [FieldError(
            "(archive)", f"is {size} bytes, more than {limits.max_compressed_bytes}",
            "PPX-ARC-TOO-LARGE", size,
        )])


def read_archive(path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> PackageArchive:
    """Validate ``path`` as a ``.ppx`` and return its listing, sha256 and manifest bytes."""
    _check_size(path, limits)
    try:
        with path.open("rb") as fh:
            sha256, size = _hash_file(fh)
            with _open_zip(fh) as zf:
                entries = _validate(zf, limits)
                manifest = _read_manifest(zf)
    except OSError as exc:
        raise PackageError("archive unreadable", [FieldError(
            "(archive)", f"cannot be read: {exc.strerror or exc}", "PPX-ARC-NOT-ZIP"
        )]) from None
    return PackageArchive(path, sha256, size, entries, manifest, limits)


def iter_files(
    archive: PackageArchive, *, max_bytes: int | None = None
) -> Iterator[tuple[ArchiveEntry, bytes]]:
    """Yield each file entry with its content (or its first ``max_bytes`` if given).

    Reads are bounded by the sizes ``read_archive`` approved; a stream that does not match its
    declared size or CRC raises :class:`PackageError` (``PPX-ARC-CORRUPT``).
    """
    with archive.path.open("rb") as fh, _open_zip(fh) as zf:
        for entry in archive.files:
            if max_bytes is not None and entry.size > max_bytes:
                yield entry, _read_head(zf, entry.name, max_bytes)
            else:
                yield entry, _read_member(zf, entry.name, entry.size)


def _read_head(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        with zf.open(name) as member:
            return member.read(limit)
    except Exception as exc:  # see _open_zip: any failure to decode is a corrupt entry
        raise PackageError("archive rejected", [_err(
            name, f"cannot be read: {str(exc)[:120]}", "PPX-ARC-CORRUPT"
        )]) from None


def native_content_rule(head: bytes) -> str | None:
    """Rule id if an entry's first bytes are native code or bytecode, whatever its name."""
    if head[:4] == b"\x7fELF" or head[:4] in (
        b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ):
        return "PPX-ARC-NATIVE-CODE"
    if head[:2] == b"MZ" and len(head) >= 0x40:
        offset = int.from_bytes(head[0x3C:0x40], "little")
        if head[offset:offset + 4] == b"PE\x00\x00":
            return "PPX-ARC-NATIVE-CODE"
    # CPython .pyc: a 2-byte magic in 3000..3999 followed by \r\n (PEP 552 header).
    magic = int.from_bytes(head[:2], "little")
    if len(head) >= 16 and head[2:4] == b"\r\n" and 3000 <= magic < 4000:
        return "PPX-ARC-BYTECODE"
    return None


#: First bytes of the archive and compression formats refused inside a package.
_ARCHIVE_MAGIC: Final = (
    b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08",  # zip (and jar, whl, egg ...)
    b"\x1f\x8b\x08",  # gzip
    b"\xfd7zXZ\x00",  # xz
    b"7z\xbc\xaf\x27\x1c",  # 7z
    b"Rar!\x1a\x07",  # rar
)
_ZIP_END: Final = b"PK\x05\x06"
_ZIP_END_SIZE: Final = 22


def nested_archive_rule(data: bytes) -> str | None:
    """``PPX-ARC-NESTED-ARCHIVE`` if ``data`` is (or ends in) an archive, whatever its name.

    An archive's content is never scanned, and zipimport loads modules from a zip put on
    ``__path__``; zipimport (like zipfile) finds a zip by its end record, so a zip appended to a
    harmless file counts too: its end record's comment length reaches exactly the end.
    """
    if data.startswith(_ARCHIVE_MAGIC) or data[257:262] == b"ustar":
        return "PPX-ARC-NESTED-ARCHIVE"
    if data[:3] == b"BZh" and data[4:10] == b"1AY&SY":  # bzip2 header + first block magic
        return "PPX-ARC-NESTED-ARCHIVE"
    tail = data[-(0xFFFF + _ZIP_END_SIZE):]
    end = tail.rfind(_ZIP_END)
    while end >= 0:
        comment = int.from_bytes(tail[end + 20:end + 22], "little")
        if len(tail) - end >= _ZIP_END_SIZE and comment == len(tail) - end - _ZIP_END_SIZE:
            return "PPX-ARC-NESTED-ARCHIVE"
        end = tail.rfind(_ZIP_END, 0, end)
    return None


def extract_archive(
    path: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS
) -> PackageArchive:
    """Validate ``path`` and extract it into ``dest``, which must be absent or an empty directory.

    The only function that writes package files. On any error nothing is left behind: a ``dest``
    this call created is removed, a pre-existing empty one is emptied again.
    """
    created = not dest.exists()
    if not created and (not dest.is_dir() or dest.is_symlink() or any(dest.iterdir())):
        raise PackageError("extraction refused", [FieldError(
            str(dest), "must not exist or be an empty directory", "PPX-ARC-DEST-NOT-EMPTY"
        )])
    _check_size(path, limits)
    dest.mkdir(parents=True, exist_ok=True)
    root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with path.open("rb") as fh:
            sha256, size = _hash_file(fh)
            with _open_zip(fh) as zf:
                entries = _validate(zf, limits)
                manifest = b""
                for entry in entries:
                    if entry.is_dir:
                        _makedirs_at(root_fd, entry.name.split("/"))
                        continue
                    data = _read_member(zf, entry.name, entry.size)
                    rule = native_content_rule(data[:HEAD_BYTES])
                    if rule:
                        raise PackageError("archive rejected", [_err(
                            entry.name, "contains native code or bytecode", rule
                        )])
                    rule = nested_archive_rule(data)
                    if rule:
                        raise PackageError("archive rejected", [_err(
                            entry.name, "is an archive inside the package", rule
                        )])
                    _write_at(root_fd, entry.name.split("/"), data)
                    if entry.name == MANIFEST_NAME:
                        manifest = data
        return PackageArchive(path, sha256, size, entries, manifest, limits)
    except OSError as exc:
        _undo(dest, created)
        if is_disk_full(exc):
            # The server's disk, not the package: it installs once space is freed.
            raise InsufficientStorage(
                "The server's storage is full; the package was not installed. Retry once "
                "space is freed.") from None
        raise PackageError("extraction failed", [FieldError(
            "(archive)", f"could not be extracted: {exc.strerror or exc}", "PPX-ARC-EXTRACT"
        )]) from None
    except BaseException:
        _undo(dest, created)
        raise
    finally:
        os.close(root_fd)


def _undo(dest: Path, created: bool) -> None:
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _makedirs_at(root_fd: int, parts: list[str]) -> int:
    """Create/open each directory component under ``root_fd``; return an fd for the last one."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            # O_NOFOLLOW: a component that is (or became) a symlink fails instead of being followed.
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd


def _write_at(root_fd: int, parts: list[str], data: bytes) -> None:
    parent = _makedirs_at(root_fd, parts[:-1])
    try:
        fd = os.open(
            parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=parent
        )
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    finally:
        os.close(parent)
