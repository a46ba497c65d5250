"""The platform's own ed25519 key: it signs published marketplace artifacts and photo proofs.

Each use signs under its own context prefix, so a signature made for one purpose can never be
replayed as another: artifacts use ``packages/signing.py``'s ``proofpix.ppx.v1`` message (the
same one developers sign), other documents name their context in ``sign_document``. The key is
generated into the data directory by default (``Settings.ensure_secrets``) and must be supplied
in production (``PROOFPIX_SIGNING_KEY``, a PKCS#8 PEM).
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofpix_plugins.packages.signing import (
    public_key_fingerprint,
    public_key_from_private,
    sign_digest,
    verify_digest,
)


def _document_message(context: str, payload: bytes) -> bytes:
    if not context or "\0" in context:
        raise ValueError("a signing context is a non-empty string without NUL")
    return b"proofpix." + context.encode("ascii") + b"\0" + payload


class PlatformKey:
    """Signs with the platform key; verifies against its public half."""

    def __init__(self, private_pem: bytes) -> None:
        self._private_pem = private_pem
        self.public_pem: bytes = public_key_from_private(private_pem)
        #: sha256 hex of the raw public key: names the key in signatures and the log.
        self.key_id: str = public_key_fingerprint(self.public_pem)
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the platform signing key must be an ed25519 private key")
        self._key = key

    def sign_artifact(self, sha256_hex: str) -> str:
        """Base64 signature over a package digest (verifiable with ``plugin verify``)."""
        return sign_digest(sha256_hex, self._private_pem)

    def verify_artifact(self, sha256_hex: str, signature_b64: str) -> bool:
        return verify_digest(sha256_hex, signature_b64, self.public_pem)

    def sign_document(self, context: str, payload: bytes) -> str:
        """Base64 signature over ``payload`` under ``context`` (e.g. ``"proof.v1"``)."""
        return base64.b64encode(self._key.sign(_document_message(context, payload))).decode()

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()


def verify_document(
    public_key: Ed25519PublicKey, context: str, payload: bytes, signature_b64: str
) -> bool:
    """Whether ``signature_b64`` signs ``payload`` under ``context`` with ``public_key``."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, _document_message(context, payload))
    except (InvalidSignature, ValueError):
        return False
    return True
