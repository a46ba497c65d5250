"""Shared storage infrastructure: the content-addressed blob store and streamed upload spooling.

Nothing outside this package knows where a blob's bytes live: callers hold a ``BlobRef``
(sha256 and size) and go through the ``BlobStore`` protocol.
"""
