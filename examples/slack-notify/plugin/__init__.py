"""Slack Notify: a Slack incoming-webhook message for every new proof."""

from __future__ import annotations

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


def slack_message(event: dict, username: str, icon: str) -> dict:
    """The incoming-webhook body: ``text`` (the notification fallback) and Block Kit blocks."""
    document = event.get("document") or {}
    file = document.get("file") or {}
    name = str(file.get("filename") or event.get("fileId"))
    sha = str(event.get("sha256") or "")
    text = f"New proof for {name} (sha256 {sha[:12]}...)"
    return {
        "text": text,
        "username": username,
        "icon_emoji": icon,
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"*New ProofPix proof* for `{name}`"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Proof*\n{event.get('proofId')}"},
                {"type": "mrkdwn", "text": f"*Signed*\n{event.get('createdAt')}"},
                {"type": "mrkdwn", "text": f"*SHA-256*\n`{sha}`"},
                {"type": "mrkdwn", "text": f"*Key*\n`{str(event.get('keyId') or '')[:16]}`"},
            ]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": "Verify offline: `proofpix-plugins proof verify`"}]},
        ],
    }


@plugin.hook("proof:created")
def post_proof(event: dict, ctx: HookContext) -> dict:
    url = str(ctx.secrets.get("webhookUrl"))
    body = slack_message(event, str(ctx.config.get("username", "ProofPix")),
                         str(ctx.config.get("iconEmoji", ":camera:")))
    response = ctx.http.post(url, json=body)
    # Slack answers 200 with the body "ok"; anything else is the reason it refused.
    if response.status != 200:
        raise RuntimeError(f"Slack answered {response.status}: {response.text[:200]}")
    return {"posted": True, "status": response.status}
