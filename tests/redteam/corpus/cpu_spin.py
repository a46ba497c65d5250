"""Spin the CPU forever, ignoring every exception it can catch."""


def attack(event, ctx):
    n = 0
    while True:
        try:
            n += 1
        except BaseException:  # noqa: S112 - swallowing is the attack
            continue
