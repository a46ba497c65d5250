"""Streamed multipart uploads with hard limits, spooled to a private temporary file.

Starlette's form parser buffers a whole file part before a handler can refuse it; uploads here
(photos, ``.ppx`` packages) are capped while they stream, so an over-size body costs at most the
cap in disk and never reaches memory whole.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from proofpix_plugins.errors import (
    BadRequest,
    FieldError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 8


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
    def __init__(self, file_field: str, max_bytes: int, tmp_dir: Path | None) -> None:
        self.file_field = file_field
        self.max_bytes = max_bytes
        fd, name = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
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
        return self._part.name == self.file_field and self._part.filename is not None

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
    tmp_dir: Path | None = None,
) -> SpooledUpload:
    """Parse a multipart body as it streams; the file part goes to a temporary file.

    Raises ``UnsupportedMediaType`` when the body is not multipart, ``PayloadTooLarge`` past
    ``max_bytes`` and ``ValidationFailed`` when the file part is missing. The caller owns the
    returned file and must ``discard()`` it.
    """
    ctype, options = parse_options_header(content_type_header.encode("latin-1", "replace"))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "expected multipart/form-data with a boundary",
            errors=(FieldError("content-type", "must be multipart/form-data", "media-type"),),
        )
    collector = _Collector(file_field, max_bytes, tmp_dir)
    parser = MultipartParser(boundary, collector.callbacks())
    try:
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
    return SpooledUpload(
        path=collector.path,
        filename=(meta.filename or "")[:255],
        content_type=meta.content_type,
        size=collector.size,
        sha256=collector.digest.hexdigest(),
        fields=collector.fields,
    )
