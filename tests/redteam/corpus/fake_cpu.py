"""Burn CPU while making the worker's own clock report none: replace the ``time`` functions
the worker would measure with."""

import time


def attack(event, ctx):
    clock = time.perf_counter
    time.process_time = lambda: 0.0
    time.process_time_ns = lambda: 0
    end = clock() + event["seconds"]
    spins = 0
    while clock() < end:
        spins += 1
    return {"got": {}, "errors": [], "spins": spins}
