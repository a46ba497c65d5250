"""Errors the runtime raises to its callers (the hook bus and the lifecycle layer)."""

from __future__ import annotations

from proofpix_plugins.errors import BadRequest, ProofPixError, ServiceUnavailable


class RuntimeFailure(ProofPixError):
    """Root of the sandbox runtime's own errors."""


class LoadError(RuntimeFailure):
    """A plugin could not be started: missing layer, bad tree, import failure, timeout."""

    status = 422
    title = "Plugin Load Failed"
    slug = "plugin-load-failed"


class NotLoaded(RuntimeFailure):
    """A call named a plugin that is not loaded in this pool."""

    status = 409
    title = "Plugin Not Loaded"
    slug = "plugin-not-loaded"


class PoolClosed(ServiceUnavailable):
    """The pool is not started, or is shutting down."""


class CapabilityError(BadRequest):
    """A capability request was malformed or failed at the broker (quota, missing file)."""


class CapabilityDenied(RuntimeFailure):
    """A capability was used without its granted permission."""

    status = 403
    title = "Permission Denied"
    slug = "permission-denied"
