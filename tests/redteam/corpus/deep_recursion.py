"""Blow the C stack: lift the recursion limit and recurse until the process dies."""

import sys


def attack(event, ctx):
    sys.setrecursionlimit(10**8)

    def down(n):
        return down(n + 1) + 1

    return {"got": down(0), "errors": []}
