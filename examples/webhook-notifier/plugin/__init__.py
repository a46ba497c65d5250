"""Webhook Notifier: an HMAC-signed JSON notification for every new proof."""

from __future__ import annotations

import json

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


def notification(event: dict, org_id: str) -> dict:
    return {
        "event": "proof:created",
        "org": org_id,
        "proofId": event.get("proofId"),
        "fileId": event.get("fileId"),
        "sha256": event.get("sha256"),
        "keyId": event.get("keyId"),
        "createdAt": event.get("createdAt"),
        "signature": event.get("signature"),
    }


def signed_body(payload: dict, ctx: HookContext) -> tuple[bytes, str]:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    key = str(ctx.secrets.get("signingKey")).encode()
    return body, "sha256=" + ctx.crypto.hmac_sha256(key, body)


@plugin.hook("proof:created")
def notify(event: dict, ctx: HookContext) -> dict:
    body, signature = signed_body(notification(event, ctx.org_id), ctx)
    # Send the exact bytes that were signed.
    response = ctx.http.post(
        str(ctx.config["url"]),
        data=body,
        headers={"X-ProofPix-Signature": signature, "Content-Type": "application/json"},
    )
    ctx.log.info("webhook sent", status=response.status)
    if not 200 <= response.status < 300:
        raise RuntimeError(f"webhook answered {response.status}")
    return {"delivered": True, "status": response.status}
