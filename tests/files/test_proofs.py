"""Signed proofs: created through the API (firing proof:created), listed, verified offline by
`proofpix-plugins proof verify`; every tampering, another photo and another key fail."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_mod
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import update
from typer.testing import CliRunner

from proofpix_plugins.cli.main import app as cli
from proofpix_plugins.db import session_scope
from proofpix_plugins.files.proof_document import sign_proof, verify_proof
from proofpix_plugins.models.files import File, FileStatus
from proofpix_plugins.packages.platform_key import PlatformKey
from tests.files.shelf_kit import install_example, photo, upload
from tests.fixtures.app import TestUser, create_test_user

runner = CliRunner()


def _verify(*args: str) -> tuple[int, str]:
    done = runner.invoke(cli, ["proof", "verify", *args])
    return done.exit_code, done.output


async def _proof(api: httpx.AsyncClient, user: TestUser, file_id: str) -> dict[str, Any]:
    r = await api.post(f"/api/files/{file_id}/proofs", headers=user.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def _other_key() -> PlatformKey:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    return PlatformKey(pem)


async def test_a_proof_is_signed_stored_listed_and_verifies_offline(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, ppx_dir: Path
) -> None:
    await install_example(api, admin, "exif-reader", ppx_dir)
    original = photo()
    record = await upload(api, admin, original)

    created = await _proof(api, admin, record["id"])

    proof = created["proof"]
    key: PlatformKey = platform.state.platform_key
    assert proof["sha256"] == record["sha256"]
    assert proof["keyId"] == key.key_id
    doc = proof["document"]
    assert doc["metadata"]["exif"]["gps"]["latitude"] == pytest.approx(48.8582333)
    assert doc["pluginResults"][0]["pluginId"] == "proofpix.exif-reader"
    assert doc["pluginResults"][0]["result"]["camera"] == "Canon EOS 5D Mark IV"
    assert created["hookResult"]["hook"] == "proof:created"
    listed = await api.get(f"/api/files/{record['id']}/proofs", headers=admin.headers)
    assert listed.status_code == 200
    assert listed.json()["total"] == 1
    assert listed.json()["items"] == [proof]  # stored exactly as signed
    pub = ppx_dir / "platform.pem"
    pub.write_bytes(key.public_pem)
    photo_file = ppx_dir / "photo.jpg"
    photo_file.write_bytes(original)
    proof_file = _write(ppx_dir / "proof.json", proof)

    assert _verify(proof_file, "--public-key", str(pub))[0] == 0
    code, out = _verify(proof_file, "--public-key", str(pub), "--photo", str(photo_file))
    assert code == 0, out
    assert "VALID" in out
    # The create route's whole answer is accepted as well.
    assert _verify(_write(ppx_dir / "created.json", created), "--public-key", str(pub))[0] == 0
    # The key the server publishes is the one that signed.
    published = await api.get("/api/proofs/public-key")
    assert published.status_code == 200
    assert published.json()["keyId"] == key.key_id
    assert published.json()["publicKeyPem"].encode() == key.public_pem
    # Later proofs list after it, a page at a time.
    second = (await _proof(api, admin, record["id"]))["proof"]
    page = await api.get(f"/api/files/{record['id']}/proofs?page=2&limit=1",
                         headers=admin.headers)
    assert page.json() == {"items": [second], "total": 2, "page": 2, "limit": 1}
    bad = await api.get(f"/api/files/{record['id']}/proofs?limit=0", headers=admin.headers)
    assert bad.status_code == 422


async def test_a_tampered_proof_a_different_photo_and_another_key_fail(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, ppx_dir: Path
) -> None:
    await install_example(api, admin, "exif-reader", ppx_dir)
    record = await upload(api, admin, photo())
    proof = (await _proof(api, admin, record["id"]))["proof"]
    key: PlatformKey = platform.state.platform_key
    pub = ppx_dir / "platform.pem"
    pub.write_bytes(key.public_pem)

    edits: dict[str, Any] = {
        "id": str(uuid.uuid4()), "fileId": str(uuid.uuid4()),
        "createdAt": "2020-01-01T00:00:00.000000Z", "keyId": "0" * 64, "sha256": "a" * 64,
        "signature": _other_key().sign_document("proof.v1", b"{}"),
        "document.proofId": str(uuid.uuid4()), "document.organizationId": str(uuid.uuid4()),
        "document.file.sha256": "b" * 64, "document.file.filename": "other.jpg",
        "document.file.sizeBytes": 1, "document.metadata.exif.gps.latitude": 40.0,
        "document.metadata.exif.make": "Nikon", "document.metadata.plugins": {"x": {}},
        "document.pluginResults.0.result.hasGps": False, "document.createdAt":
        "2020-01-01T00:00:00.000000Z", "document.file.processedSha256": "c" * 64,
    }
    for dotted, value in edits.items():
        tampered = copy.deepcopy(proof)
        target: Any = tampered
        *parents, last = dotted.split(".")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        assert target[last] != value
        target[last] = value
        code, out = _verify(_write(ppx_dir / "t.json", tampered), "--public-key", str(pub))
        assert code == 1, (dotted, out)
        assert "INVALID" in out

    proof_file = _write(ppx_dir / "proof.json", proof)
    other_photo = ppx_dir / "other.jpg"
    other_photo.write_bytes(photo(color=(0, 0, 200)))
    code, out = _verify(proof_file, "--public-key", str(pub), "--photo", str(other_photo))
    assert code == 1
    assert "is not the proven" in out

    # Verified against another key: refused by key id, and by signature when the id is forged.
    stranger = _other_key()
    stranger_pem = ppx_dir / "stranger.pem"
    stranger_pem.write_bytes(stranger.public_pem)
    code, out = _verify(proof_file, "--public-key", str(stranger_pem))
    assert code == 1
    assert "not by the given key" in out
    # A proof another key signed (a well-formed forgery) fails against the platform key.
    forged_doc = {**proof["document"], "keyId": stranger.key_id}
    forged = sign_proof(stranger, forged_doc).to_wire()
    assert verify_proof(forged, stranger.public_key) == []  # it is a real signature...
    code, out = _verify(_write(ppx_dir / "forged.json", forged), "--public-key", str(pub))
    assert code == 1  # ...by a key that is not the platform's
    # The forger cannot claim the platform's key id either: the signature then fails.
    claimed = {**proof["document"], "file": {**proof["document"]["file"], "sizeBytes": 7}}
    claimed_wire = sign_proof(stranger, claimed).to_wire()
    code, out = _verify(_write(ppx_dir / "claimed.json", claimed_wire), "--public-key", str(pub))
    assert code == 1
    assert "signature does not match" in out


async def test_bad_input_exits_2(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, ppx_dir: Path
) -> None:
    record = await upload(api, admin, photo())
    proof = (await _proof(api, admin, record["id"]))["proof"]
    pub = ppx_dir / "platform.pem"
    pub.write_bytes(platform.state.platform_key.public_pem)
    good = _write(ppx_dir / "proof.json", proof)
    not_json = ppx_dir / "x.json"
    not_json.write_text("{not json")
    missing = {k: v for k, v in proof.items() if k != "signature"}
    bad_key = ppx_dir / "bad.pem"
    bad_key.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    rsa = ppx_dir / "rsa.pem"
    rsa.write_bytes(rsa_mod.generate_private_key(public_exponent=65537, key_size=2048)
                    .public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    cases = [
        [str(not_json), "--public-key", str(pub)],
        [str(ppx_dir / "absent.json"), "--public-key", str(pub)],
        [_write(ppx_dir / "m.json", missing), "--public-key", str(pub)],
        [_write(ppx_dir / "l.json", [proof]), "--public-key", str(pub)],
        [_write(ppx_dir / "n.json", {**proof, "document": {**proof["document"],
                                                            "proofVersion": 2}}),
         "--public-key", str(pub)],
        [good, "--public-key", str(bad_key)],
        [good, "--public-key", str(rsa)],
        [good, "--public-key", str(ppx_dir / "absent.pem")],
        [good],
        [good, "--public-key", str(pub), "--server", "http://127.0.0.1:9"],
        [good, "--server", "http://127.0.0.1:9"],
        [good, "--public-key", str(pub), "--photo", str(ppx_dir / "absent.jpg")],
    ]
    for args in cases:
        code, out = _verify(*args)
        assert code == 2, (args, out)
        assert "error:" in out


async def test_proofs_are_scoped_to_the_organization_and_refused_while_processing(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI
) -> None:
    record = await upload(api, admin, photo())
    other = await create_test_user(platform, tier="enterprise", role="admin")
    for method, path in (("POST", "proofs"), ("GET", "proofs"), ("GET", "export")):
        r = await api.request(method, f"/api/files/{record['id']}/{path}", headers=other.headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await api.request(method, f"/api/files/{uuid.uuid4()}/{path}", headers=admin.headers)
        assert r.status_code == 404
        r = await api.request(method, f"/api/files/{record['id']}/{path}")
        assert r.status_code == 401
    async with session_scope(platform.state.session_factory) as session:
        await session.execute(update(File).where(File.id == uuid.UUID(record["id"]))
                              .values(status=FileStatus.processing))
    r = await api.post(f"/api/files/{record['id']}/proofs", headers=admin.headers)
    assert r.status_code == 409
    assert (await api.get(f"/api/files/{record['id']}/export", headers=admin.headers)
            ).status_code == 409
    listed = await api.get(f"/api/files/{record['id']}/proofs", headers=admin.headers)
    assert listed.json()["total"] == 0  # nothing half-written by the refusals
