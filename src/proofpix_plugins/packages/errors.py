"""Errors of the ``.ppx`` package domain.

Every rule a package can break has a stable rule id (``PPX-ARC-*``, ``PPX-MAN-*``, ...) carried in
``FieldError.rule``; the scanner reports the same ids, so a server rejection and an offline
``plugin validate`` speak one vocabulary.
"""

from __future__ import annotations

from proofpix_plugins.errors import ValidationFailed


class PackageError(ValidationFailed):
    """A package archive or its manifest broke one or more package rules."""

    slug = "invalid-package"


class SignatureInvalid(PackageError):
    """A detached signature does not verify against the archive digest and public key."""

    slug = "invalid-signature"


class KeyInvalid(PackageError):
    """A signing key is not a usable ed25519 key in PEM form."""

    slug = "invalid-key"
