"""Upload Counter: per-organization upload statistics in plugin storage."""

from __future__ import annotations

import datetime as dt

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


def day_key(now: dt.datetime | None = None) -> str:
    return "day:" + (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")


@plugin.hook("file:uploaded")
def count_upload(event: dict, ctx: HookContext) -> dict:
    total = int(ctx.storage.get("total", 0)) + 1
    key = day_key()
    today = int(ctx.storage.get(key, 0)) + 1
    size = int(ctx.files.info().get("sizeBytes") or 0)
    total_bytes = int(ctx.storage.get("bytes", 0)) + size
    ctx.storage.set("total", total)
    ctx.storage.set(key, today)
    ctx.storage.set("bytes", total_bytes)
    return {"total": total, "today": today, "bytes": total_bytes}


@plugin.hook("export:before")
def report(event: dict, ctx: HookContext) -> dict:
    # ctx.storage is the SDK's store (keys() is a broker call), not a dict.
    keys = ctx.storage.keys()
    days = {k: ctx.storage.get(k, 0) for k in keys if k.startswith("day:")}
    return {**event, "uploadCounts": {"total": ctx.storage.get("total", 0),
                                      "bytes": ctx.storage.get("bytes", 0), "days": days}}
