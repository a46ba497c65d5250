"""Allocate far more memory than the plugin's memory_mb, touching every page."""


def attack(event, ctx):
    chunks = []
    mb = 0
    try:
        while mb < event["target_mb"]:
            chunk = bytearray(16 * 1024 * 1024)
            for i in range(0, len(chunk), 4096):
                chunk[i] = 1
            chunks.append(chunk)
            mb += 16
    except MemoryError:
        return {"got": {"mb": mb}, "errors": ["MemoryError"]}
    return {"got": {"mb": mb}, "errors": []}
