"""The submission request: multipart ``file`` (.ppx), optional ``releaseNotes`` and ``signature``.

Streams the package under the same cap as the upload install (``plugins/install_form.py``),
refuses a non-zip file (415) and over-long text fields (422 naming the field), and deletes the
spooled file once the route returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request

from proofpix_plugins.config import Settings
from proofpix_plugins.errors import FieldError, UnsupportedMediaType, ValidationFailed
from proofpix_plugins.storage.uploads import spool_multipart

ZIP_MAGIC = b"PK\x03\x04"
MAX_RELEASE_NOTES = 10_000
#: A base64 ed25519 signature is 88 characters; some slack for surrounding whitespace.
MAX_SIGNATURE_CHARS = 128

OPENAPI_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "the .ppx package (at most the upload limit)"},
                "releaseNotes": {"type": "string", "maxLength": MAX_RELEASE_NOTES,
                                 "description": "What changed in this version (the changelog "
                                 "shown in the marketplace)."},
                "signature": {"type": "string", "maxLength": MAX_SIGNATURE_CHARS,
                              "description": "Base64 ed25519 signature over the package's "
                              "sha256, as `proofpix-plugins plugin sign` writes it; required "
                              "once the developer has registered a signing key."},
            },
        },
    }},
}


@dataclass(frozen=True)
class SubmissionForm:
    package: Path
    size: int
    release_notes: str
    signature: str | None


async def submission_form(request: Request) -> AsyncIterator[SubmissionForm]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            "send multipart/form-data with a 'file' part (.ppx)",
            errors=(FieldError("content-type", "multipart/form-data", "media-type"),),
        )
    settings: Settings = request.app.state.settings
    upload = await spool_multipart(ctype, request.stream(), file_field="file",
                                   max_bytes=settings.max_upload_bytes,
                                   tmp_dir=request.app.state.upload_spool.root)
    try:
        with upload.path.open("rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                raise UnsupportedMediaType(
                    "the file is not a .ppx (zip) package",
                    errors=(FieldError("file", "must be a .ppx zip archive", "media-type"),),
                )
        notes = upload.fields.get("releaseNotes", "")
        errors = []
        if len(notes) > MAX_RELEASE_NOTES:
            errors.append(FieldError("releaseNotes", f"at most {MAX_RELEASE_NOTES} characters",
                                     "max-length", len(notes)))
        signature = (upload.fields.get("signature") or "").strip() or None
        if signature is not None and len(signature) > MAX_SIGNATURE_CHARS:
            errors.append(FieldError("signature", f"at most {MAX_SIGNATURE_CHARS} characters",
                                     "max-length", len(signature)))
        if errors:
            raise ValidationFailed("the submission form is invalid", errors=tuple(errors))
        yield SubmissionForm(upload.path, upload.size, notes, signature)
    finally:
        upload.discard()
