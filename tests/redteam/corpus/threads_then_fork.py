"""Start threads (allowed), then fork from one of them (must still be refused)."""

import os
import threading


def attack(event, ctx):
    marker = event["marker"]
    result = {"got": {}, "errors": []}

    def worker():
        try:
            pid = os.fork()
        except Exception as exc:
            result["errors"].append(f"fork in thread: {type(exc).__name__}: {exc}")
            return
        if pid == 0:
            try:
                with open(marker, "w") as fh:
                    fh.write("pwned")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        result["got"]["child"] = pid

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2)
    result["got"]["threads_ran"] = len(threads)
    return result
