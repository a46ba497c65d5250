"""Ed25519 detached signatures over a package's sha256 (its identity).

What is signed is ``b"proofpix.ppx.v1\\0" + digest`` (the 32 raw digest bytes behind a context
prefix), so a signature made for a package can never be replayed as a signature over anything
else this platform might sign later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.errors import KeyInvalid, SignatureInvalid

_CONTEXT: Final = b"proofpix.ppx.v1\x00"
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def generate_keypair() -> tuple[bytes, bytes]:
    """A new ed25519 key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def signed_message(sha256_hex: str) -> bytes:
    """The bytes an artifact signature covers (for verifiers holding a raw public key)."""
    return _message(sha256_hex)


def _message(sha256_hex: str) -> bytes:
    if not _HEX64.fullmatch(sha256_hex):
        raise SignatureInvalid("bad digest", [FieldError(
            "sha256", "must be 64 lowercase hex characters", "PPX-SIG-DIGEST", sha256_hex
        )])
    return _CONTEXT + bytes.fromhex(sha256_hex)


def _private_key(private_pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyInvalid("unusable private key", [FieldError(
            "key", "is not an unencrypted ed25519 private key in PEM form", "PPX-SIG-KEY"
        )])
    return key


def load_public_key(public_pem: bytes) -> Ed25519PublicKey:
    """Parse an ed25519 public key PEM, raising :class:`KeyInvalid` for anything else."""
    try:
        key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyInvalid("unusable public key", [FieldError(
            "key", "is not an ed25519 public key in PEM form", "PPX-SIG-KEY"
        )])
    return key


def public_key_fingerprint(public_pem: bytes) -> str:
    """sha256 of the raw 32-byte public key, hex: a short stable name for a signing key."""
    raw = load_public_key(public_pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()


def public_key_from_private(private_pem: bytes) -> bytes:
    """The public PEM belonging to a private PEM."""
    return _private_key(private_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_digest(sha256_hex: str, private_pem: bytes) -> str:
    """Base64 ed25519 signature over a package's sha256 (hex)."""
    return base64.b64encode(_private_key(private_pem).sign(_message(sha256_hex))).decode("ascii")


def verify_digest(sha256_hex: str, signature_b64: str, public_pem: bytes) -> bool:
    """Whether the signature is valid for the digest and key.

    A wrong, truncated or garbled signature is simply False; an unusable key or digest raises,
    because that is a configuration error rather than a bad package.
    """
    key = load_public_key(public_pem)
    message = _message(sha256_hex)
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != 64:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def require_signature(sha256_hex: str, signature_b64: str, public_pem: bytes) -> None:
    """Raise :class:`SignatureInvalid` unless the signature verifies."""
    if not verify_digest(sha256_hex, signature_b64, public_pem):
        raise SignatureInvalid("signature does not verify", [FieldError(
            "signature", "does not match the package digest and public key", "PPX-SIG-INVALID"
        )])
