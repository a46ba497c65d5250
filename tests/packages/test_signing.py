"""Ed25519 detached signatures over a package digest."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proofpix_plugins.packages.errors import KeyInvalid, SignatureInvalid
from proofpix_plugins.packages.signing import (
    generate_keypair,
    public_key_fingerprint,
    public_key_from_private,
    require_signature,
    sign_digest,
    verify_digest,
)

DIGEST = hashlib.sha256(b"package bytes").hexdigest()
OTHER = hashlib.sha256(b"other bytes").hexdigest()


def test_sign_then_verify():
    private, public = generate_keypair()
    signature = sign_digest(DIGEST, private)
    assert len(base64.b64decode(signature)) == 64
    assert verify_digest(DIGEST, signature, public)
    require_signature(DIGEST, signature, public)


def test_signature_does_not_verify_another_digest_or_key():
    private, public = generate_keypair()
    _, other_public = generate_keypair()
    signature = sign_digest(DIGEST, private)
    assert not verify_digest(OTHER, signature, public)
    assert not verify_digest(DIGEST, signature, other_public)
    with pytest.raises(SignatureInvalid):
        require_signature(OTHER, signature, public)


@pytest.mark.parametrize("bad", ["", "!!!", base64.b64encode(b"x" * 63).decode(), "A" * 200])
def test_garbled_signatures_are_false_not_errors(bad):
    _, public = generate_keypair()
    assert verify_digest(DIGEST, bad, public) is False


def test_plain_sha256_signature_is_not_accepted():
    # The context prefix means a signature over the bare digest bytes is useless here.
    private, public = generate_keypair()
    key = serialization.load_pem_private_key(private, password=None)
    raw = base64.b64encode(key.sign(bytes.fromhex(DIGEST))).decode()  # type: ignore[call-arg,union-attr]
    assert not verify_digest(DIGEST, raw, public)


def test_non_ed25519_keys_are_refused():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    with pytest.raises(KeyInvalid):
        sign_digest(DIGEST, pem)
    with pytest.raises(KeyInvalid):
        verify_digest(DIGEST, "AAAA", b"not a key")


def test_malformed_digest_is_refused():
    private, _ = generate_keypair()
    with pytest.raises(SignatureInvalid):
        sign_digest("ABC", private)


def test_fingerprint_is_stable_and_derivable_from_private_key():
    private, public = generate_keypair()
    assert public_key_fingerprint(public) == public_key_fingerprint(
        public_key_from_private(private))
    assert len(public_key_fingerprint(public)) == 64
