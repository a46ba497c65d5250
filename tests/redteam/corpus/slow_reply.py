"""Never answer: sleep far past the deadline."""

import time


def attack(event, ctx):
    time.sleep(event.get("sleep_s", 3600))
    return {"got": "late"}
