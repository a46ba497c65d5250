"""The marketplace's background jobs: the submission pipeline and the re-scan on rule change.

``register`` runs in the platform's composition root before the job runner starts; ``start``
runs after it, and queues a re-scan when published versions were scanned under another rule
set than the one this process runs.
"""

from __future__ import annotations

from starlette.datastructures import State

from proofpix_plugins.jobs import JobRegistry
from proofpix_plugins.marketplace import pipeline, rescan
from proofpix_plugins.marketplace.intake import PROCESS_SUBMISSION
from proofpix_plugins.marketplace.pipeline import PipelineDeps
from proofpix_plugins.scanning import Check


def register(registry: JobRegistry, state: State, checks: list[Check]) -> PipelineDeps:
    """Register the marketplace jobs; the deps land on ``state.marketplace``."""
    deps = PipelineDeps(blobs=state.blob_store, key=state.platform_key, checks=checks)
    state.marketplace = deps
    pipeline.register(registry, deps, PROCESS_SUBMISSION)
    rescan.register(registry, deps)
    return deps


async def start(state: State) -> None:
    deps: PipelineDeps = state.marketplace
    await rescan.enqueue_if_stale(state.session_factory, state.job_queue, deps.rules_version)
