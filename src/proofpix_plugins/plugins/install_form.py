"""The install request (SPEC §7): a multipart ``file`` (the ``.ppx``) and ``metadata``, or a
JSON body naming a marketplace version.

``install_form`` is the route's dependency: it streams the package to a private temporary file
under the upload cap, refuses a file that is not a ZIP archive (415) and parses the optional
``metadata`` JSON (422 naming the field), and deletes the file once the route returns. It is
declared after the route's auth dependencies, so nobody unauthorized gets a body spooled.

A JSON body (``{"source": "marketplace", "pluginId", "version"?, ...}``) is dispatched to the
marketplace through the :class:`~proofpix_plugins.plugins.marketplace_source.MarketplaceSource`
on ``app.state`` (injected by the composition root): it hands back the verified artifact in a
temporary file, and the install runs the same pipeline as an upload.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from proofpix_plugins.config import Settings
from proofpix_plugins.errors import (
    FieldError,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from proofpix_plugins.kit.problem import validation_field_errors
from proofpix_plugins.plugins.marketplace_source import MarketplaceInstallIn, MarketplaceSource
from proofpix_plugins.plugins.schemas import InstallMetadata
from proofpix_plugins.storage.uploads import SpooledUpload, spool_multipart

ZIP_MAGIC = b"PK\x03\x04"

#: The request body as OpenAPI documents it (the route parses it by hand, streaming). The
#: ``metadata`` part is a JSON object (its ``encoding`` says so), typed by InstallMetadata.
OPENAPI_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "the .ppx package"},
                "metadata": {
                    **InstallMetadata.model_json_schema(),
                    "description": "Optional JSON object: which requested permissions to grant "
                    "(omitted `grantPermissions` grants every requested permission) and the "
                    "initial `config` (validated against the plugin's config_schema).",
                },
            },
        },
        "encoding": {"metadata": {"contentType": "application/json"}},
    }, "application/json": {
        "schema": MarketplaceInstallIn.model_json_schema(ref_template="#/components/schemas/"
                                                         "{model}"),
        "example": {"source": "marketplace", "pluginId": "acme.counter", "version": "1.0.0"},
    }},
}


@dataclass(frozen=True)
class InstallForm:
    package: Path
    grant_permissions: list[str] | None
    config: dict[str, Any] | None = None
    #: A marketplace install: the package must be this plugin id, version and publisher.
    expected_id: str | None = None
    expected_version: str | None = None
    expected_publisher: str | None = None
    #: Called once the install committed (the marketplace counts it).
    on_installed: Callable[[], Awaitable[None]] | None = None
    notices: Sequence[str] = ()


async def install_form(request: Request) -> AsyncIterator[InstallForm]:
    ctype = request.headers.get("content-type", "")
    if ctype.split(";", 1)[0].strip().lower() == "application/json":
        async for form in _marketplace_form(request):
            yield form
        return
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            "send multipart/form-data with a 'file' part (.ppx), or application/json naming a "
            "marketplace plugin",
            errors=(FieldError("content-type", "multipart/form-data or application/json",
                               "media-type"),),
        )
    settings: Settings = request.app.state.settings
    upload = await spool_multipart(ctype, request.stream(), file_field="file",
                                   max_bytes=settings.max_upload_bytes,
                                   tmp_dir=request.app.state.upload_spool.root)
    try:
        _require_zip(upload)
        metadata = _metadata(upload.fields.get("metadata"))
        yield InstallForm(upload.path, metadata.grant_permissions, metadata.config)
    finally:
        upload.discard()


async def _marketplace_form(request: Request) -> AsyncIterator[InstallForm]:
    body = _parse_json(await request.body(), "body", MarketplaceInstallIn)
    source: MarketplaceSource | None = getattr(request.app.state, "marketplace_source", None)
    if source is None:
        raise ServiceUnavailable("this server has no marketplace")
    async with source.checkout(body.plugin_id, body.version) as artifact:
        yield InstallForm(
            artifact.path, body.grant_permissions, body.config,
            expected_id=artifact.plugin_id, expected_version=artifact.version,
            expected_publisher=artifact.publisher,
            on_installed=functools.partial(source.record_install, artifact.plugin_id,
                                           artifact.version),
            notices=artifact.notices,
        )


def _parse_json(raw: bytes, name: str, model: type[MarketplaceInstallIn]) -> MarketplaceInstallIn:
    try:
        parsed = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ValidationFailed(
            f"{name} is not JSON", errors=(FieldError(name, "must be a JSON object", "json"),),
        ) from None
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        errors = tuple(dataclasses.replace(e, field=e.field or name)
                       for e in validation_field_errors(exc.errors()))
        raise ValidationFailed("request body is invalid", errors=errors) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _require_zip(upload: SpooledUpload) -> None:
    # Four bytes of a file the spooler just wrote: cheaper than a thread hop.
    with upload.path.open("rb") as fh:
        if fh.read(4) != ZIP_MAGIC:
            raise UnsupportedMediaType(
                "the file is not a .ppx (zip) package",
                errors=(FieldError("file", "must be a .ppx zip archive", "media-type"),),
            )


def _metadata(raw: str | None) -> InstallMetadata:
    if not raw:
        return InstallMetadata()
    try:
        # The stdlib parser: orjson turns integers beyond 64 bits into floats silently, and
        # config must keep them so validation can refuse them by name.
        parsed = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ValidationFailed(
            "metadata is not JSON",
            errors=(FieldError("metadata", "must be a JSON object", "json"),),
        ) from None
    try:
        return InstallMetadata.model_validate(parsed)
    except ValidationError as exc:
        # The request-validation rendering of kit.problem, under the form field's name.
        errors = tuple(
            dataclasses.replace(e, field=".".join(filter(None, ["metadata", e.field])))
            for e in validation_field_errors(exc.errors())
        )
        raise ValidationFailed("request body is invalid", errors=errors) from None
