"""The payload every host hook sends, as JSON Schema (draft 2020-12): one source of truth.

``docs/hooks/<hook>.schema.json`` is generated from :data:`HOOK_PAYLOAD_SCHEMAS` (``python -m
proofpix_plugins.files.payloads docs/hooks``; a test fails when the committed files differ), and
the export pipeline validates what ``export:before`` plugins return against
:data:`EXPORT_MANIFEST_SCHEMA` before it uses it. Tests capture what real sandboxed plugins
receive during upload, processing, proof and export and validate it against these schemas.

``canonical_json`` is the byte form proofs are signed over: sorted keys, no insignificant
whitespace, UTF-8, no NaN or Infinity.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

__all__ = [
    "EXPORT_MANIFEST_SCHEMA",
    "HOOK_PAYLOAD_SCHEMAS",
    "canonical_json",
    "validator_for",
    "write_schema_files",
]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_BASE = "https://proofpix.dev/schemas/hooks/"

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256, hex."}
_UUID = {"type": "string", "format": "uuid",
         "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601."}
_TEXT_OR_NUMBER = {"type": ["string", "number"]}

#: What the host reads from a photo's EXIF (files/images.py): every field optional.
EXIF_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "EXIF facts the host read from the photo; absent fields were not in it.",
    "additionalProperties": False,
    "properties": {
        "make": {"type": "string"},
        "model": {"type": "string"},
        "software": {"type": "string"},
        "dateTime": {"type": "string"},
        "orientation": {"type": "number"},
        "dateTimeOriginal": _TEXT_OR_NUMBER,
        "exposureTime": _TEXT_OR_NUMBER,
        "fNumber": _TEXT_OR_NUMBER,
        "iso": _TEXT_OR_NUMBER,
        "focalLength": _TEXT_OR_NUMBER,
        "lensModel": _TEXT_OR_NUMBER,
        "gps": {
            "type": "object",
            "description": "Where the photo was taken (decimal degrees, metres).",
            "additionalProperties": False,
            "properties": {
                "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                "altitude": {"type": "number"},
            },
        },
    },
}

#: The file event of ``file:uploaded``, ``metadata:extracted`` and ``file:process``.
_FILE_EVENT: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["fileId", "filename", "contentType", "sizeBytes", "width", "height", "exif"],
    "properties": {
        "fileId": {**_UUID, "description": "The file's id."},
        "filename": {"type": "string", "maxLength": 255,
                     "description": "The uploader's file name, cleaned of paths and controls."},
        "contentType": {"type": "string", "description": "Decided by decoding the bytes."},
        "sizeBytes": {"type": "integer", "minimum": 0},
        "width": {"type": ["integer", "null"], "minimum": 0},
        "height": {"type": ["integer", "null"], "minimum": 0},
        "exif": EXIF_SCHEMA,
    },
}

_PLUGIN_RESULT: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["hook", "pluginId", "status", "durationMs"],
    "properties": {
        "hook": {"type": "string"},
        "pluginId": {"type": "string"},
        "status": {"enum": ["ok", "error", "timeout", "denied", "crashed", "skipped"]},
        "durationMs": {"type": "number", "minimum": 0},
        "result": {"description": "What the handler returned (ok only)."},
        "error": {"type": ["string", "null"], "description": "Why it failed (not ok)."},
    },
}

#: The signed part of a proof (files/proofs.py builds it; canonical_json is what is signed).
PROOF_DOCUMENT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["proofVersion", "proofId", "fileId", "organizationId", "file", "metadata",
                 "pluginResults", "createdAt", "keyId", "algorithm", "context"],
    "properties": {
        "proofVersion": {"const": 1},
        "proofId": _UUID,
        "fileId": _UUID,
        "organizationId": _UUID,
        "file": {
            "type": "object",
            "additionalProperties": False,
            "required": ["filename", "contentType", "sizeBytes", "sha256", "processedSha256",
                         "width", "height", "uploadedAt"],
            "properties": {
                "filename": {"type": "string"},
                "contentType": {"type": "string"},
                "sizeBytes": {"type": "integer", "minimum": 0},
                "sha256": {**_SHA256, "description": "SHA-256 of the original bytes."},
                "processedSha256": {"anyOf": [_SHA256, {"type": "null"}]},
                "width": {"type": ["integer", "null"]},
                "height": {"type": ["integer", "null"]},
                "uploadedAt": _TIME,
            },
        },
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["exif", "plugins"],
            "properties": {
                "exif": EXIF_SCHEMA,
                "plugins": {"type": "object", "description": "What plugins stored, by id."},
            },
        },
        "pluginResults": {"type": "array", "items": _PLUGIN_RESULT},
        "createdAt": _TIME,
        "keyId": {**_SHA256, "description": "SHA-256 of the platform's raw public key."},
        "algorithm": {"const": "ed25519"},
        "context": {"const": "proof.v1"},
    },
}

#: A proof as the API returns it and ``proof verify`` reads it.
PROOF_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "fileId", "createdAt", "keyId", "sha256", "signature", "document"],
    "properties": {
        "id": _UUID,
        "fileId": _UUID,
        "createdAt": _TIME,
        "keyId": _SHA256,
        "sha256": _SHA256,
        "signature": {"type": "string", "description": "base64 ed25519 signature over "
                      "`proofpix.proof.v1\\0` + canonical JSON of `document`."},
        "document": PROOF_DOCUMENT_SCHEMA,
    },
}

_PROOF_CREATED: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["proofId", "fileId", "sha256", "createdAt", "keyId", "signature", "document"],
    "properties": {
        "proofId": {**_UUID, "description": "The new proof's id."},
        "fileId": _UUID,
        "sha256": {**_SHA256, "description": "SHA-256 of the photo's original bytes."},
        "createdAt": _TIME,
        "keyId": _SHA256,
        "signature": {"type": "string"},
        "document": PROOF_DOCUMENT_SCHEMA,
    },
}

#: What ``export:before`` receives, what each plugin must return, and export's manifest.json.
EXPORT_MANIFEST_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The export manifest. Plugins may add top-level fields and remove or "
    "redact optional ones; `manifestVersion`, `file.id` and `file.sha256` must stay, "
    "`variants` may only shrink and `proofs` may only be dropped, never altered.",
    "required": ["manifestVersion", "file", "variants"],
    "properties": {
        "manifestVersion": {"const": 1},
        "file": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "sha256"],
            "properties": {
                "id": _UUID,
                "filename": {"type": "string", "maxLength": 255},
                "contentType": {"type": "string"},
                "sizeBytes": {"type": "integer", "minimum": 0},
                "sha256": _SHA256,
                "processedSha256": {"anyOf": [_SHA256, {"type": "null"}]},
                "width": {"type": ["integer", "null"]},
                "height": {"type": ["integer", "null"]},
                "createdAt": _TIME,
            },
        },
        "variants": {
            "type": "array", "uniqueItems": True,
            "items": {"enum": ["original", "processed"]},
            "description": "The photo files the zip carries.",
        },
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "exif": EXIF_SCHEMA,
                "plugins": {"type": "object"},
            },
        },
        "pluginResults": {"type": "array", "items": _PLUGIN_RESULT},
        "proofs": {"type": "array", "items": PROOF_SCHEMA},
    },
}

_DESCRIPTIONS: Final[dict[str, tuple[str, str]]] = {
    "file:uploaded": (
        "Fired by POST /api/files (and reprocess), mode parallel; plugins need `files`.",
        "The uploaded photo: id, name, decoded type, size, dimensions and the EXIF the host read."),
    "metadata:extracted": (
        "Fired by POST /api/files after file:uploaded, mode parallel.",
        "The same file event, once the host has stored the EXIF it extracted."),
    "file:process": (
        "Fired by POST /api/files after metadata:extracted, mode waterfall; plugins need `files`."
        " The first processor receives this object, each later one what the previous returned.",
        "The file event a processor chain starts from."),
    "proof:created": (
        "Fired by POST /api/files/{id}/proofs after the proof is stored, mode parallel.",
        "The signed proof: its id, the photo's sha256, the platform key id, the signature "
        "and the signed document."),
    "export:before": (
        "Fired by GET /api/files/{id}/export, mode waterfall: each plugin receives the manifest "
        "(the previous plugin's output) and returns the manifest to use; the host validates "
        "every returned manifest against this schema and its invariants before using it.",
        "The export manifest."),
}


def _hook_schema(hook: str, body: dict[str, Any]) -> dict[str, Any]:
    fired, title = _DESCRIPTIONS[hook]
    return {
        "$schema": _DRAFT,
        "$id": f"{_BASE}{hook.replace(':', '.')}.schema.json",
        "title": f"{hook} payload",
        "description": f"{title} {fired}",
        **body,
    }


#: Hook name -> the JSON Schema of the payload the host sends with it.
HOOK_PAYLOAD_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "file:uploaded": _hook_schema("file:uploaded", _FILE_EVENT),
    "metadata:extracted": _hook_schema("metadata:extracted", _FILE_EVENT),
    "file:process": _hook_schema("file:process", _FILE_EVENT),
    "proof:created": _hook_schema("proof:created", _PROOF_CREATED),
    "export:before": _hook_schema("export:before", EXPORT_MANIFEST_SCHEMA),
}


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def canonical_json(value: Any) -> bytes:
    """The signed byte form: sorted keys, compact, UTF-8; NaN/Infinity refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def schema_file_name(hook: str) -> str:
    return f"{hook.replace(':', '.')}.schema.json"


def render_schema(hook: str) -> str:
    return json.dumps(HOOK_PAYLOAD_SCHEMAS[hook], indent=2, sort_keys=False) + "\n"


def write_schema_files(out_dir: Path) -> list[Path]:
    """Write ``docs/hooks/<hook>.schema.json`` for every host hook."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for hook in HOOK_PAYLOAD_SCHEMAS:
        path = out_dir / schema_file_name(hook)
        path.write_text(render_schema(hook), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a maintenance entry point
    for p in write_schema_files(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/hooks")):
        print(p)
