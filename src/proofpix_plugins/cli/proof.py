"""`proofpix-plugins proof verify`: check a photo proof offline.

Exit codes: 0 the proof is valid (and the photo matches, with ``--photo``); 1 it is not (each
reason printed); 2 bad input (unreadable or non-proof JSON, a key that is not an ed25519 PEM,
a photo that cannot be read, a server that cannot be reached).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from proofpix_plugins.files.proof_document import (
    ProofShapeError,
    key_id_of,
    load_public_key,
    verify_proof,
)

app = typer.Typer(no_args_is_help=True, help="Verify signed photo proofs.")


@app.callback()
def _group() -> None:
    """Verify signed photo proofs (offline)."""

EXIT_VALID, EXIT_INVALID, EXIT_BAD_INPUT = 0, 1, 2


def _bad_input(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(EXIT_BAD_INPUT)


def _read_proof(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise _bad_input(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):
        raise _bad_input(f"{path} is not JSON") from None
    # The create route's answer ({"proof": ..., "hookResult": ...}) holds the proof too.
    if isinstance(raw, dict) and set(raw) <= {"proof", "hookResult"} and "proof" in raw:
        raw = raw["proof"]
    if not isinstance(raw, dict):
        raise _bad_input(f"{path} is not a proof (a JSON object)")
    return raw


def _server_key_pem(url: str) -> bytes:
    target = url.rstrip("/") + "/api/proofs/public-key"
    try:
        response = httpx.get(target, timeout=30, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _bad_input(f"cannot reach {target}: {exc}") from None
    if response.status_code != 200:
        raise _bad_input(f"{target} answered {response.status_code}")
    try:
        body = response.json()
        return str(body["publicKeyPem"]).encode("ascii")
    except (ValueError, KeyError, TypeError, UnicodeEncodeError):
        raise _bad_input(f"{target} did not answer a proof key") from None


@app.command("verify")
def verify(
    proof_file: Annotated[Path, typer.Argument(metavar="PROOF.json",
                                               help="The proof, as the API returned it.")],
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", metavar="FILE", help="The platform's ed25519 public key (PEM).")] = None,
    server: Annotated[str | None, typer.Option(
        "--server", metavar="URL",
        help="Fetch the key from a ProofPix server (GET /api/proofs/public-key).")] = None,
    photo: Annotated[Path | None, typer.Option(
        "--photo", metavar="FILE", help="Also check that this photo is the one proven.")] = None,
) -> None:
    """Verify a proof's signature, and with --photo that the photo is the one it proves."""
    if (public_key is None) == (server is None):
        raise _bad_input("give exactly one of --public-key FILE or --server URL")
    proof = _read_proof(proof_file)
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
        except OSError as exc:
            raise _bad_input(f"cannot read {public_key}: {exc.strerror or exc}") from None
    else:
        assert server is not None
        pem = _server_key_pem(server)
    try:
        key = load_public_key(pem)
    except (ValueError, TypeError):
        raise _bad_input("the public key is not an ed25519 public key in PEM") from None
    digest = None
    if photo is not None:
        try:
            digest = hashlib.sha256(photo.read_bytes()).hexdigest()
        except OSError as exc:
            raise _bad_input(f"cannot read {photo}: {exc.strerror or exc}") from None
    try:
        problems = verify_proof(proof, key, photo_sha256=digest)
    except ProofShapeError as exc:
        raise _bad_input(f"{proof_file} is not a proof: {exc}") from None
    if problems:
        typer.secho("INVALID", fg=typer.colors.RED, bold=True)
        for problem in problems:
            typer.echo(f"  - {problem}")
        raise typer.Exit(EXIT_INVALID)
    typer.secho("VALID", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"  proof {proof['id']} of file {proof['fileId']}")
    typer.echo(f"  sha256 {proof['sha256']}, signed {proof['createdAt']} by key {key_id_of(key)}")
    if digest is not None:
        typer.echo(f"  the photo {photo} matches")
