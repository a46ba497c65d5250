"""The bystander: an honest plugin that must keep working whatever the others do."""

import os


def attack(event, ctx):
    return {"ok": True, "pid": os.getpid(), "echo": event}
