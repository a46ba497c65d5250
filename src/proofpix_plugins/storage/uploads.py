"""Streamed multipart uploads with hard limits, spooled to a private file under the data dir.

Starlette's form parser buffers a whole file part before a handler can refuse it; uploads here
(photos, ``.ppx`` packages) are capped while they stream, so an over-size body costs at most the
cap in disk and never reaches memory whole.

Where spooled files live: ``<data dir>/uploads/<process instance>/upload-*`` (``UploadSpool``),
not the system temp dir. Each API process spools under a root of its own, named like its scratch
root (pid and start time), so a process that died mid-upload (SIGKILL, OOM) leaves a root that
the next start recognises as dead and deletes, and processes sharing a data dir never delete each
other's uploads in flight.

What the parser refuses, and how (every case leaves no file behind):

- a boundary longer than python-multipart accepts (256; RFC 2046 says 70): 400 ``boundary``;
- a file part under another name than the expected one (``photo`` for ``file``): 422 naming the
  missing field, before its bytes are read;
- a body that ends before its closing boundary (a truncated upload): 400 ``truncated``;
- a file name is display text, never a path: it is normalised (``clean_filename``), not refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.multipart import (
    MAX_BOUNDARY_LENGTH,
    MultipartParser,
    MultipartState,
    parse_options_header,
)

from proofpix_plugins.errors import (
    BadRequest,
    FieldError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 8
MAX_FILENAME_CHARS = 255
_SPOOL_PREFIX = "upload-"

# Characters that change how a name is displayed rather than what it says: bidirectional
# overrides, embeddings and isolates (U+202E makes "gpj.exe" read "exe.jpg") and marks.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")


def clean_filename(raw: str) -> str:
    """The display name of an uploaded file: what the client sent, made safe to show and store.

    Normalised, not refused (a camera or an OS may well produce an odd name, and the name is
    only ever displayed): the last path component only (some clients send ``C:\\dir\\a.jpg``),
    NFC, without control characters (C0, DEL, C1: NUL cannot be stored in PostgreSQL text) and
    bidirectional controls, trimmed, at most 255 characters. An empty result is ``""`` (the
    caller names it).
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(
        ch for ch in name
        if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS
    )
    return name.strip()[:MAX_FILENAME_CHARS]


class UploadSpool:
    """One API process's directory for uploads in flight, under the data dir.

    ``instance`` names this process (pid and start time, so a reused pid is another name) and
    ``alive`` says whether the process that named a root still runs; the composition root
    passes the runtime's helpers, the same that name the plugins' scratch roots.
    """

    def __init__(self, base: Path, instance: str, alive: Callable[[str], bool]) -> None:
        self.base = base
        self.root = base / instance
        self._alive = alive

    def prepare(self) -> list[Path]:
        """Create this process's root; delete the roots of processes that died; return those."""
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        swept: list[Path] = []
        for other in self.base.iterdir():
            if other.name != self.root.name and not self._alive(other.name):
                shutil.rmtree(other, ignore_errors=True)
                swept.append(other)
        self.root.mkdir(mode=0o700, exist_ok=True)
        return swept

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class SpooledUpload:
    """The file part on disk plus the small text fields that came with it."""

    path: Path
    filename: str
    content_type: str
    size: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = "application/octet-stream"
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    def __init__(self, file_field: str, max_bytes: int, tmp_dir: Path) -> None:
        self.file_field = file_field
        self.max_bytes = max_bytes
        fd, name = tempfile.mkstemp(prefix=_SPOOL_PREFIX, dir=tmp_dir)
        self.fh = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.digest = hashlib.sha256()
        self.size = 0
        self.fields: dict[str, str] = {}
        self.file_meta: _Part | None = None
        self.parts = 0
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}

    # python-multipart callbacks -------------------------------------------------
    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"at most {MAX_PARTS} multipart parts are accepted")
        self._part = _Part()
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_name).lower().decode("latin-1")] = bytes(
            self._header_value
        )
        self._header_name = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        self._part.filename = None if raw_filename is None else raw_filename.decode(
            "utf-8", "replace"
        )
        ctype = self._headers.get("content-type")
        if ctype:
            self._part.content_type = ctype.decode("latin-1")[:200]
        if self._is_file_part():
            if self.file_meta is not None:
                raise BadRequest(f"only one '{self.file_field}' part is accepted")
            self.file_meta = self._part
        elif self._part.filename is not None:
            # A file under another name (``photo``): its bytes would be read as a text field
            # and refused for their size, a misleading answer. Name the part that is missing.
            raise ValidationFailed(
                f"a '{self.file_field}' file part is required; the file was sent as "
                f"'{self._part.name[:100]}'",
                errors=(FieldError(self.file_field, "required", "required"),),
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file_part():
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"upload exceeds {self.max_bytes} bytes",
                    errors=(FieldError(self.file_field, "too large", "max-size", self.max_bytes),),
                )
            self.digest.update(chunk)
            self.fh.write(chunk)
        else:
            self._part.data += chunk
            if len(self._part.data) > MAX_FIELD_BYTES:
                raise PayloadTooLarge(
                    f"field '{self._part.name}' exceeds {MAX_FIELD_BYTES} bytes",
                    errors=(FieldError(self._part.name, "too large", "max-size"),),
                )

    def on_part_end(self) -> None:
        if not self._is_file_part() and self._part.name:
            try:
                self.fields[self._part.name] = self._part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationFailed(
                    "form field is not UTF-8",
                    errors=(FieldError(self._part.name, "must be UTF-8 text", "encoding"),),
                ) from None

    def _is_file_part(self) -> bool:
        # By name: ``curl -F file=<photo.jpg`` sends the file without a filename.
        return self._part.name == self.file_field

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }


async def spool_multipart(
    content_type_header: str,
    body: AsyncIterator[bytes],
    *,
    file_field: str = "file",
    max_bytes: int,
    tmp_dir: Path,
) -> SpooledUpload:
    """Parse a multipart body as it streams; the file part goes to a file in ``tmp_dir``.

    Raises ``UnsupportedMediaType`` when the body is not multipart, ``BadRequest`` when it is
    malformed or truncated, ``PayloadTooLarge`` past ``max_bytes`` and ``ValidationFailed`` when
    the file part is missing. The caller owns the returned file and must ``discard()`` it.
    """
    ctype, options = parse_options_header(content_type_header.encode("latin-1", "replace"))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "expected multipart/form-data with a boundary",
            errors=(FieldError("content-type", "must be multipart/form-data", "media-type"),),
        )
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        # Refused before any file exists: the parser would refuse it too, after the spool file.
        raise BadRequest(
            f"the multipart boundary is longer than {MAX_BOUNDARY_LENGTH} characters",
            errors=(FieldError("content-type", f"boundary of 1 to {MAX_BOUNDARY_LENGTH} "
                               "characters", "boundary", len(boundary)),),
        )
    collector = _Collector(file_field, max_bytes, tmp_dir)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        collector.fh.close()
    except BaseException as exc:
        collector.fh.close()
        collector.path.unlink(missing_ok=True)
        if isinstance(exc, PayloadTooLarge | BadRequest | ValidationFailed):
            raise
        if isinstance(exc, Exception) and exc.__class__.__module__.startswith("python_multipart"):
            raise BadRequest("malformed multipart body") from None
        raise
    meta = collector.file_meta
    if meta is None or collector.size == 0:
        collector.path.unlink(missing_ok=True)
        raise ValidationFailed(
            f"a non-empty '{file_field}' file part is required",
            errors=(FieldError(file_field, "required", "required"),),
        )
    if parser.state != MultipartState.END:
        # The body stopped before ``--boundary--``: whatever was spooled may be cut short.
        collector.path.unlink(missing_ok=True)
        raise BadRequest(
            "the multipart body ends before its closing boundary",
            errors=(FieldError("body", "must end with the closing boundary", "truncated"),),
        )
    return SpooledUpload(
        path=collector.path,
        filename=clean_filename(meta.filename or ""),
        content_type=meta.content_type,
        size=collector.size,
        sha256=collector.digest.hexdigest(),
        fields=collector.fields,
    )
