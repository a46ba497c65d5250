"""The photo pipeline's state while its hooks run: which bytes a file currently has, and how
much of its derived-image budget the run has spent.

A ``file:process`` waterfall hands each processor the previous one's output. The broker reads
``current`` when a plugin asks for the file's bytes, ``charge``s the run before it stores a
derived image and calls ``advance`` once it is stored; ``FileService`` opens and closes the run
and records where it ended. A derived image is accepted only during a run: outside one nothing
would ever reference it.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofpix_plugins.storage.blobstore import BlobRef


@dataclass
class _Run:
    current: BlobRef
    spent_bytes: int = 0
    spent_images: int = 0


class FileWork:
    """Per pipeline run: the file's current bytes (a processor's output feeds the next one)."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}

    def begin(self, file_id: str, blob: BlobRef) -> None:
        self._runs[file_id] = _Run(blob)

    def current(self, file_id: str) -> str | None:
        run = self._runs.get(file_id)
        return None if run is None else run.current.sha256

    def spent(self, file_id: str) -> tuple[int, int] | None:
        """Bytes and images of derived images this run has charged, or None outside a run."""
        run = self._runs.get(file_id)
        return None if run is None else (run.spent_bytes, run.spent_images)

    def charge(self, file_id: str, nbytes: int) -> None:
        """Count a derived image against the run (before it is checked and stored: an attempt
        that fails still counts, so refused payloads cannot be retried without bound)."""
        run = self._runs.get(file_id)
        if run is not None:
            run.spent_bytes += nbytes
            run.spent_images += 1

    def advance(self, file_id: str, blob: BlobRef) -> None:
        run = self._runs.get(file_id)
        if run is not None:
            run.current = blob

    def end(self, file_id: str) -> BlobRef | None:
        run = self._runs.pop(file_id, None)
        return None if run is None else run.current
