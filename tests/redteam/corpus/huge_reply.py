"""Return a reply larger than the host's frame cap."""


def attack(event, ctx):
    return "x" * (event["reply_mb"] * 1024 * 1024)
