"""``proofpix-plugins marketplace verify-log``: check a marketplace's publication log from outside.

Fetches the marketplace's public key (unless one is given: pin it, or the server could swap
key and log together), every page of the log up to the head served with the first page, and
runs ``publog.verify_chain``: the sequence has no gaps, every entry's hash covers its fields and
names its predecessor, every published artifact's signature verifies, and the signed head
matches the last entry. Exit codes: 0 the log verifies, 1 it does not (the first bad entry is
named), 2 the server could not be read or the input is unusable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofpix_plugins.marketplace import publog
from proofpix_plugins.packages.errors import KeyInvalid
from proofpix_plugins.packages.signing import load_public_key

app = typer.Typer(no_args_is_help=True, help="Check the marketplace from outside.")

KEY_PATH = "/api/plugins/marketplace/public-key"
LOG_PATH = "/api/plugins/marketplace/log"
PAGE = 1000
#: A log longer than this many pages is refused rather than read for ever.
MAX_PAGES = 100_000


class Unusable(Exception):
    """The server or the input cannot be used (exit 2)."""


def _get_json(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    try:
        r = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise Unusable(f"cannot reach {client.base_url}: {exc}") from None
    if r.status_code != 200:
        raise Unusable(f"{path} answered {r.status_code}")
    try:
        body = r.json()
    except ValueError:
        raise Unusable(f"{path} did not answer JSON") from None
    if not isinstance(body, dict):
        raise Unusable(f"{path} did not answer a JSON object")
    return body


def _key(client: httpx.Client, key_file: Path | None) -> Ed25519PublicKey:
    try:
        if key_file is not None:
            pem = key_file.read_bytes()
        else:
            pem = str(_get_json(client, KEY_PATH).get("publicKeyPem", "")).encode()
        return load_public_key(pem)
    except OSError as exc:
        raise Unusable(f"cannot read {key_file}: {exc.strerror}") from None
    except KeyInvalid:
        raise Unusable("the public key is not an ed25519 public key in PEM form") from None


def fetch_log(client: httpx.Client) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every entry up to the head served with the first page, and that head."""
    first = _get_json(client, LOG_PATH, after=0, limit=PAGE)
    head = first.get("head")
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int):
        raise Unusable("the log page has no head")
    items: list[dict[str, Any]] = list(first.get("items") or [])
    for _ in range(MAX_PAGES):
        last = items[-1].get("seq") if items else 0
        if not isinstance(last, int) or last >= head["seq"]:
            break
        page = _get_json(client, LOG_PATH, after=last, limit=PAGE)
        more = list(page.get("items") or [])
        if not more:
            break  # the server stopped short of its own head: verify_chain reports it
        items += more
    return [e for e in items if isinstance(e.get("seq"), int) and e["seq"] <= head["seq"]], head


def verify(url: str, key_file: Path | None) -> dict[str, Any]:
    with httpx.Client(base_url=url.rstrip("/"), timeout=30.0) as client:
        key = _key(client, key_file)
        items, head = fetch_log(client)
    problems = publog.verify_chain(
        items, key, head_seq=head["seq"], head_hash=head.get("hash"),
        head_signature=head.get("signature"),
    )
    return {
        "valid": not problems,
        "entries": len(items),
        "published": sum(1 for e in items if e.get("action") == "publish"),
        "headSeq": head["seq"],
        "headHash": head.get("hash"),
        "problems": [{"seq": p.seq, "reason": p.reason} for p in problems],
    }


@app.command("verify-log")
def verify_log(
    url: Annotated[str, typer.Argument(help="the marketplace's base URL, e.g. https://x.example")],
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", help="the marketplace's public key (PEM) to pin instead of fetching it")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Verify the marketplace's hash-chained publication log and every artifact signature."""
    if not url.startswith(("http://", "https://")):
        _fail_input(as_json, "URL must start with http:// or https://")
    try:
        result = verify(url, public_key)
    except Unusable as exc:
        _fail_input(as_json, str(exc))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    elif result["valid"]:
        typer.echo(f"OK: {result['entries']} entries ({result['published']} published "
                   f"artifacts) verify up to the signed head {result['headSeq']} "
                   f"({str(result['headHash'])[:16]}…)")
    else:
        first = result["problems"][0]
        where = f"entry {first['seq']}" if first["seq"] is not None else "the head"
        typer.echo(f"INVALID: {where}: {first['reason']} "
                   f"({len(result['problems'])} problem(s) in all)", err=True)
    raise typer.Exit(0 if result["valid"] else 1)


def _fail_input(as_json: bool, message: str) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"valid": None, "error": message}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
