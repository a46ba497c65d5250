"""Password hashing with argon2id (argon2-cffi) and the password policy."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from proofpix_plugins.config import Environment, Settings

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more; this only bounds the work one request can ask


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    needs_rehash: bool


class Passwords:
    """Hash and verify passwords; tells when a stored hash uses outdated parameters."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    @classmethod
    def for_settings(cls, settings: Settings) -> Passwords:
        # RFC 9106's low-memory profile in every real deployment; the test suite uses the
        # cheapest parameters so hundreds of users cost milliseconds (Django does the same).
        if settings.env is Environment.test:
            return cls(PasswordHasher.from_parameters(profiles.CHEAPEST))
        return cls(PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY))

    def hash(self, password: str) -> str:
        return self._hasher.hash(_encode(password))

    def verify(self, stored_hash: str, password: str) -> Verification:
        try:
            self._hasher.verify(stored_hash, _encode(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(ok=False, needs_rehash=False)
        return Verification(ok=True, needs_rehash=self._hasher.check_needs_rehash(stored_hash))

    def burn(self, password: str) -> None:
        """Spend the time of one verification, so an unknown email answers as slowly."""
        self._hasher.hash(_encode(password))


def _encode(password: str) -> bytes:
    # JSON may carry lone surrogates; hash them as given rather than crash on them.
    return password.encode("utf-8", "surrogatepass")
