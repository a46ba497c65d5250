"""Wire shapes of proofs, the proof key and the export."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from proofpix_plugins.kit.hook_schemas import HookResultOut
from proofpix_plugins.kit.schemas import CamelResponse

_SHA = "4c1f0e9d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d"
_KEY = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
_PROOF_EXAMPLE: dict[str, Any] = {
    "id": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    "fileId": "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b",
    "createdAt": "2026-12-02T12:00:00.000000Z", "keyId": _KEY, "sha256": _SHA,
    "signature": "mS3v...base64...Ag==",
    "document": {
        "proofVersion": 1, "proofId": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        "fileId": "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b",
        "organizationId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "file": {"filename": "harbour.jpg", "contentType": "image/jpeg", "sizeBytes": 183204,
                 "sha256": _SHA, "processedSha256": None, "width": 1600, "height": 1200,
                 "uploadedAt": "2026-12-02T11:59:00.000000Z"},
        "metadata": {"exif": {"make": "TestCam", "gps": {"latitude": 48.85,
                                                         "longitude": 2.29}},
                     "plugins": {}},
        "pluginResults": [{"hook": "file:uploaded", "pluginId": "proofpix.exif-reader",
                           "status": "ok", "durationMs": 4.2, "result": {"hasGps": True}}],
        "createdAt": "2026-12-02T12:00:00.000000Z", "keyId": _KEY, "algorithm": "ed25519",
        "context": "proof.v1",
    },
}


class ProofOut(CamelResponse):
    """A signed proof of a photo, verifiable offline with `proofpix-plugins proof verify`."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PROOF_EXAMPLE]})

    id: str
    """The proof's id (a UUID)."""
    file_id: str
    """The photo it proves."""
    created_at: str
    """When it was signed (UTC, ISO 8601)."""
    key_id: str
    """SHA-256 of the platform's raw ed25519 public key that signed it."""
    sha256: str
    """SHA-256 of the photo's original bytes."""
    signature: str
    """Base64 ed25519 signature over `proofpix.proof.v1`, a NUL byte and the canonical JSON
    (sorted keys, no whitespace, UTF-8) of `document`."""
    document: dict[str, Any]
    """The signed document: file facts and sha256, EXIF, plugin metadata and results, time,
    key id (schema: docs/hooks/proof.created.schema.json, `document`)."""


class ProofCreatedOut(CamelResponse):
    """The new proof and what the `proof:created` plugins answered."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "proof": _PROOF_EXAMPLE,
        "hookResult": {"hook": "proof:created", "durationMs": 12.5, "results": [
            {"pluginId": "proofpix.webhook-notifier", "status": "ok", "durationMs": 11.9,
             "result": {"delivered": True, "status": 200}}]},
    }]})

    proof: ProofOut
    """The stored, signed proof (the object `proof verify` reads)."""
    hook_result: HookResultOut
    """The `proof:created` hook's result, one entry per plugin (not part of the proof)."""


class ProofKeyOut(CamelResponse):
    """The public half of the key that signs proofs."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "keyId": _KEY, "algorithm": "ed25519",
        "publicKeyPem": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n"
                        "-----END PUBLIC KEY-----\n",
    }]})

    key_id: str
    """SHA-256 of the raw public key: the `keyId` proofs carry."""
    algorithm: str
    """Always `ed25519`."""
    public_key_pem: str
    """The public key, SubjectPublicKeyInfo PEM."""
