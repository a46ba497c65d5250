"""The photo pipeline's state while its hooks run: which bytes a file currently has.

A ``file:process`` waterfall hands each processor the previous one's output. The broker reads
``current`` when a plugin asks for the file's bytes and calls ``advance`` when one stores a
derived image; ``FileService`` opens and closes the run and records where it ended.
"""

from __future__ import annotations

from proofpix_plugins.storage.blobstore import BlobRef


class FileWork:
    """Per pipeline run: the file's current bytes (a processor's output feeds the next one)."""

    def __init__(self) -> None:
        self._current: dict[str, BlobRef] = {}

    def begin(self, file_id: str, blob: BlobRef) -> None:
        self._current[file_id] = blob

    def current(self, file_id: str) -> str | None:
        blob = self._current.get(file_id)
        return None if blob is None else blob.sha256

    def advance(self, file_id: str, blob: BlobRef) -> None:
        if file_id in self._current:
            self._current[file_id] = blob

    def end(self, file_id: str) -> BlobRef | None:
        return self._current.pop(file_id, None)
