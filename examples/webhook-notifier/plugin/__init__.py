"""Webhook Notifier: signed JSON notifications for new proofs."""

from __future__ import annotations

import json

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


def signed_body(payload: dict, ctx: HookContext) -> tuple[bytes, str]:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    key = str(ctx.secrets.get("signingKey")).encode()
    return body, ctx.crypto.hmac_sha256(key, body)


@plugin.hook("proof:created")
def notify(event: dict, ctx: HookContext) -> dict:
    payload = {"event": "proof:created", "proofId": event.get("proofId"), "org": ctx.org_id}
    body, signature = signed_body(payload, ctx)
    # Send the exact bytes that were signed.
    response = ctx.http.post(
        str(ctx.config["url"]),
        data=body,
        headers={"X-Signature": signature, "Content-Type": "application/json"},
    )
    ctx.log.info("webhook sent", status=response.status)
    return {"delivered": response.ok, "status": response.status}
