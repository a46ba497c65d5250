"""Password hashing: argon2id at RFC 9106 strength outside tests, odd input never crashes."""

from __future__ import annotations

from pathlib import Path

import httpx

from proofpix_plugins.accounts.passwords import Passwords
from proofpix_plugins.config import Environment, Settings


def test_real_deployments_hash_with_rfc9106_low_memory_parameters(tmp_path: Path) -> None:
    passwords = Passwords.for_settings(Settings(env=Environment.production, data_dir=tmp_path))

    stored = passwords.hash("a long enough password")

    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_test_suite_hash_is_rehashed_by_a_real_deployment(tmp_path: Path) -> None:
    cheap = Passwords.for_settings(Settings(env=Environment.test, data_dir=tmp_path))
    real = Passwords.for_settings(Settings(env=Environment.development, data_dir=tmp_path))

    check = real.verify(cheap.hash("a long enough password"), "a long enough password")

    assert (check.ok, check.needs_rehash) == (True, True)


def test_a_wrong_password_or_a_corrupt_hash_fails_verification(tmp_path: Path) -> None:
    passwords = Passwords.for_settings(Settings(env=Environment.test, data_dir=tmp_path))
    stored = passwords.hash("a long enough password")

    assert passwords.verify(stored, "another password!").ok is False
    assert passwords.verify("not-a-hash", "a long enough password").ok is False


async def test_a_password_with_a_lone_surrogate_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    # JSON can encode a lone surrogate; it is refused as input, never handed to the hasher.
    body = b'{"email": "s@example.com", "password": "abc\\ud800defghijk", "name": "S"}'

    response = await client.post(
        "/api/auth/register", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"
    assert response.json()["errors"][0]["rule"] == "string_unicode"


def test_the_hasher_itself_survives_a_lone_surrogate(tmp_path: Path) -> None:
    passwords = Passwords.for_settings(Settings(env=Environment.test, data_dir=tmp_path))

    stored = passwords.hash("abc\ud800defghijk")

    assert passwords.verify(stored, "abc\ud800defghijk").ok is True
