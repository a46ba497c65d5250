"""Fork as many live processes as possible (a bounded fork bomb: it reaps what it made)."""

import os
import time


def attack(event, ctx):
    children, errors = [], []
    for _ in range(event["count"]):
        try:
            pid = os.fork()
        except OSError as exc:
            errors.append(f"errno {exc.errno}")
            break
        if pid == 0:
            time.sleep(event.get("hold", 2.0))
            os._exit(0)
        children.append(pid)
    for pid in children:  # never leave the machine littered, whatever the outcome
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    return {"got": {"forked": len(children)}, "errors": errors}
