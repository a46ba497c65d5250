"""Send signals to the host, the template (our parent) and a victim process."""

import os

SIGTERM, SIGUSR1, SIGKILL = 15, 10, 9  # ints: the signal module is refused by the policy


def attack(event, ctx):
    got, errors = [], []
    targets = [(event["victim_pid"], SIGKILL)]
    if not event.get("only_victim"):
        targets += [
            (event["host_pid"], SIGTERM),
            (event["host_pid"], SIGUSR1),
            (os.getppid(), SIGKILL),
        ]
    for pid, sig in targets:
        if pid in (0, 1, -1, os.getpid()):
            continue  # never a broadcast: a failing sandbox must not hurt the machine
        try:
            os.kill(pid, sig)
            got.append(f"{pid}:{sig}")
        except Exception as exc:
            errors.append(f"{pid}:{sig}: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
