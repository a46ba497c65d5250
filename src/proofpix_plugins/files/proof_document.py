"""Build, sign and verify a photo proof (context ``proof.v1``); no database, no HTTP.

Shared by the server (``files/proofs.py``) and the offline verifier (``proofpix-plugins proof
verify``), so both hold a proof to exactly the same rules:

* the signature is ed25519 over ``proofpix.proof.v1\\0`` + ``canonical_json(document)``;
* the proof's top-level fields (``id``, ``fileId``, ``createdAt``, ``keyId``, ``sha256``) are
  copies of signed ones and must equal them, so none can be changed without failing;
* ``keyId`` is the SHA-256 of the raw public key: the key given to the verifier must be it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofpix_plugins.files.payloads import PROOF_SCHEMA, canonical_json, validator_for
from proofpix_plugins.packages.platform_key import PlatformKey, verify_document

PROOF_CONTEXT: Final = "proof.v1"
ALGORITHM: Final = "ed25519"

#: Top-level proof field -> where the signed document holds the same value.
_MIRRORED: Final[dict[str, tuple[str, ...]]] = {
    "id": ("proofId",),
    "fileId": ("fileId",),
    "createdAt": ("createdAt",),
    "keyId": ("keyId",),
    "sha256": ("file", "sha256"),
}

_PROOF_VALIDATOR = validator_for(PROOF_SCHEMA)


@dataclass(frozen=True)
class SignedProof:
    document: dict[str, Any]
    canonical: bytes
    signature: str

    def to_wire(self, proof_id: str | None = None) -> dict[str, Any]:
        doc = self.document
        return {
            "id": proof_id or doc["proofId"], "fileId": doc["fileId"],
            "createdAt": doc["createdAt"], "keyId": doc["keyId"],
            "sha256": doc["file"]["sha256"], "signature": self.signature, "document": doc,
        }


def sign_proof(key: PlatformKey, document: dict[str, Any]) -> SignedProof:
    canonical = canonical_json(document)
    return SignedProof(document, canonical, key.sign_document(PROOF_CONTEXT, canonical))


def wire_proof(document_json: str, signature: str) -> dict[str, Any]:
    """A stored proof (its signed canonical JSON and signature) in its wire form."""
    document = json.loads(document_json)
    return SignedProof(document, document_json.encode("utf-8"), signature).to_wire()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An ed25519 public key from PEM; ValueError when it is not one."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an ed25519 public key")
    return key


class ProofShapeError(ValueError):
    """The input is not a proof at all (bad input, not a failed verification)."""


def shape_errors(proof: Any) -> list[str]:
    """Why ``proof`` is not shaped like a proof (empty when it is)."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(_PROOF_VALIDATOR.iter_errors(proof), key=lambda e: list(e.path))
    ][:10]


def verify_proof(
    proof: dict[str, Any], public_key: Ed25519PublicKey, *, photo_sha256: str | None = None
) -> list[str]:
    """Why ``proof`` does not hold (empty: valid). Raises ProofShapeError for non-proofs."""
    shape = shape_errors(proof)
    if shape:
        raise ProofShapeError("; ".join(shape))
    problems: list[str] = []
    document = proof["document"]
    for field, path in _MIRRORED.items():
        signed: Any = document
        for part in path:
            signed = signed[part]
        if proof[field] != signed:
            problems.append(f"{field} {proof[field]!r} differs from the signed "
                            f"document's {'.'.join(path)} {signed!r}")
    key_id = key_id_of(public_key)
    if document["keyId"] != key_id:
        problems.append(f"signed by key {document['keyId']}, not by the given key {key_id}")
    elif not verify_document(public_key, PROOF_CONTEXT, canonical_json(document),
                             proof["signature"]):
        problems.append("the signature does not match the document (the proof was altered "
                        "or signed by another key)")
    if photo_sha256 is not None and photo_sha256 != document["file"]["sha256"]:
        problems.append(f"the photo's sha256 {photo_sha256} is not the proven "
                        f"{document['file']['sha256']}")
    return problems
