"""The composition root: builds the plugin platform inside the app's lifespan, and tears it down.

Every resource's close is pushed on an ``AsyncExitStack`` the moment the resource exists, so a
failure half-way through start-up (a malformed ``PROOFPIX_CONFIG_KEY``, Redis unreachable, the
template process refusing to start) closes exactly what was started, and one failing close
neither skips the others nor hides the start-up error. Closing runs in reverse: the bandit
warm-up, then the plugin service (final metrics flush), the worker pool (template and workers),
the event hub. The job runner starts last and stops first, so no job runs against a service that
is gone. The blob store, event hub, broker, pool, hook bus, plugin service, file service and the
job registry and queue hang off ``app.state`` for the endpoints, each as soon as it is created.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.datastructures import State

from proofpix_plugins.config import SandboxMode, Settings
from proofpix_plugins.files.proofs import ProofService
from proofpix_plugins.files.service import FileService
from proofpix_plugins.files.work import FileWork
from proofpix_plugins.jobs import JobQueue, JobRegistry, JobRunner
from proofpix_plugins.jobs import tasks as job_tasks
from proofpix_plugins.marketplace import tasks as marketplace_tasks
from proofpix_plugins.marketplace.artifact_source import MarketplaceArtifacts
from proofpix_plugins.plugins import tasks as plugin_tasks
from proofpix_plugins.plugins.config_values import ConfigCipher
from proofpix_plugins.plugins.db_broker import DbBroker
from proofpix_plugins.plugins.event_hub import EventHub, LocalEventHub, RedisEventHub
from proofpix_plugins.plugins.layout import DIR_MODE, PluginLayout
from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.plugins.vetting import install_checks
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.host.capabilities import MAX_BLOB
from proofpix_plugins.runtime.host.derived import DerivedImageBudget
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.host.procfs import instance_alive, process_instance
from proofpix_plugins.runtime.host.quota import StorageQuota
from proofpix_plugins.scanning.checks import bandit_check
from proofpix_plugins.storage.blobstore import FileSystemBlobStore
from proofpix_plugins.storage.factory import open_blob_store
from proofpix_plugins.storage.gc import BlobCollector
from proofpix_plugins.storage.uploads import UploadSpool

log = structlog.get_logger(__name__)

_STACK = "platform_resources"


def runtime_config(settings: Settings, **overrides: Any) -> RuntimeConfig:
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.scratch_dir, DIR_MODE)
    values: dict[str, Any] = {
        "base_dir": settings.scratch_dir.resolve(),
        "max_live_workers": settings.worker_max_live,
        "idle_seconds": settings.worker_idle_seconds,
        "recycle_calls": settings.worker_recycle_calls,
        "recycle_rss_mb": settings.worker_recycle_rss_mb,
        "scratch_mb": settings.worker_scratch_mb,
        "scratch_inodes": settings.worker_scratch_inodes,
        "insecure_dev": settings.sandbox is SandboxMode.insecure_dev,
        "http_test_allow_loopback": tuple(settings.http_test_allow_loopback),
        "circuit_breaker_threshold": settings.circuit_breaker_threshold,
        "queue_wait_s": settings.worker_queue_wait_seconds,
    }
    values.update(overrides)
    return RuntimeConfig(**values)


async def start_platform(app: FastAPI) -> None:
    """Start every platform resource; on failure, close what started and re-raise."""
    stack = AsyncExitStack()
    setattr(app.state, _STACK, stack)
    try:
        await _start(app.state, stack)
    except BaseException:
        await stop_platform(app)
        raise


async def stop_platform(app: FastAPI) -> None:
    """Close what ``start_platform`` started, newest first; safe to call twice."""
    stack: AsyncExitStack | None = getattr(app.state, _STACK, None)
    setattr(app.state, _STACK, None)
    if stack is not None:
        await stack.aclose()


def _on_close(stack: AsyncExitStack, name: str, close: Callable[[], Awaitable[Any]]) -> None:
    async def close_logged() -> None:
        # Logged, not raised: the remaining resources must still close, and during a failed
        # start-up the start-up error is the one to report.
        try:
            await close()
        except Exception:
            log.exception("platform.close_failed", resource=name)

    stack.push_async_callback(close_logged)


async def _start(state: State, stack: AsyncExitStack) -> None:
    settings: Settings = state.settings
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Plugin uids must traverse the data dir to reach their own tree (never list it).
    os.chmod(data_dir, os.stat(data_dir).st_mode | 0o111)  # noqa: S103 - traverse only
    instance = process_instance(os.getpid())
    blobs = await open_blob_store(settings, instance)
    state.blob_store = blobs
    if isinstance(blobs, FileSystemBlobStore):
        # A server killed mid-put left its temporary file (or a blob the collector had moved
        # aside): deleted (put back) once its process is gone.
        abandoned = await asyncio.to_thread(blobs.sweep_abandoned, instance_alive)
        if abandoned:
            log.warning("blobs.swept_abandoned_temp_files", count=len(abandoned))
    # Uploads spool under the data dir, per process: a killed server's spool files are swept
    # by the next start instead of piling up in the system temp dir.
    spool = UploadSpool(settings.upload_dir.resolve(), instance, instance_alive)
    swept = spool.prepare()
    if swept:
        log.warning("uploads.swept_dead_spools", count=len(swept))
    state.upload_spool = spool
    stack.callback(spool.close)

    hub: EventHub = RedisEventHub(settings.redis_url) if settings.redis_url else LocalEventHub()
    state.event_hub = hub
    _on_close(stack, "event_hub", hub.close)
    await hub.start()
    # Other processes' auth changes reach this one's cached epochs: on PostgreSQL through the
    # database's own notifications (epoch_feed.py, whoever made the change), on SQLite through
    # the file's data_version; changes made through the app are also published on the hub.
    # (app.py starts PostgreSQL's feed with the epochs themselves.)
    follower = state.auth_epochs.start_following(hub)
    state.auth_epoch_follower = follower

    async def stop_following() -> None:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)

    _on_close(stack, "auth_epoch_follower", stop_following)

    work = FileWork()
    quota = StorageQuota(max_keys=settings.plugin_storage_max_keys,
                         max_bytes=settings.plugin_storage_max_bytes)
    broker = DbBroker(state.session_factory, blobs, hub, work, quota,
                      DerivedImageBudget(max_image_bytes=min(MAX_BLOB, settings.max_upload_bytes)))
    overrides = getattr(state, "runtime_overrides", {})
    pool = WorkerPool(runtime_config(settings, **overrides), broker)
    state.worker_pool = pool
    _on_close(stack, "worker_pool", pool.close)
    await pool.start()
    report = pool.sandbox_report()
    state.sandbox_report = report.as_dict()
    if report.level != "full":
        log.warning("sandbox.degraded", missing=report.missing, level=report.level,
                    insecure_dev=settings.sandbox is SandboxMode.insecure_dev)

    bus = HookBus(pool, broker, pool.config)
    state.hook_bus = bus
    assert settings.config_key is not None  # ensure_secrets filled it
    layout = PluginLayout(settings.plugin_dir.resolve())
    # This process's staging root goes with it; a sibling's start-up would sweep it otherwise.
    _on_close(stack, "plugin_layout", lambda: asyncio.to_thread(layout.close))
    service = PluginService(
        session_factory=state.session_factory, blobs=blobs, bus=bus, hub=hub,
        layout=layout,
        cipher=ConfigCipher(settings.config_key.get_secret_value()),
        metrics_flush_seconds=settings.plugin_metrics_flush_seconds,
        read_cache_seconds=settings.plugin_read_cache_seconds,
        reconcile_seconds=settings.plugin_reconcile_seconds,
        scan_checks=install_checks(settings.scan_bandit_workers,
                                   settings.scan_parallel_min_bytes),
    )
    state.plugin_service = service
    # Marketplace installs reach the install route, and the kill switch every load, through
    # protocols plugins/ defines (plugins/marketplace_source.py); plugins never imports it.
    market = MarketplaceArtifacts(state.session_factory, blobs, state.platform_key, spool.root)
    state.marketplace_source = market
    service.load_gates.append(market)
    files = FileService(state.session_factory, blobs, service, work,
                        owner=f"{socket.gethostname()}/{instance}")
    state.file_service = files
    state.proof_service = ProofService(state.session_factory, blobs, service, state.platform_key)
    _on_close(stack, "plugin_service", service.close)
    await service.start()
    interrupted = await files.recover_interrupted(instance_alive)
    if interrupted:
        log.warning("files.marked_interrupted_pipelines_incomplete", count=interrupted)

    collector = BlobCollector(state.session_factory, blobs,
                              grace_seconds=settings.blob_gc_grace_seconds,
                              interval_seconds=settings.blob_gc_interval_seconds)
    state.blob_collector = collector
    _on_close(stack, "blob_collector", collector.close)
    await collector.start()

    if settings.scan_bandit_workers > 0:
        # Start bandit's worker processes now, not during the first install.
        warmup = asyncio.create_task(
            asyncio.to_thread(bandit_check.start_pool, settings.scan_bandit_workers))
        state.scan_warmup = warmup

        async def stop_bandit() -> None:
            await asyncio.gather(warmup, return_exceptions=True)
            # The bandit worker processes are this server's children: none may outlive it.
            await asyncio.to_thread(bandit_check.shutdown_pools)

        _on_close(stack, "bandit_pool", stop_bandit)

    await _start_jobs(state, stack, settings)


async def _start_jobs(state: State, stack: AsyncExitStack, settings: Settings) -> None:
    """The job registry and queue, and this process's runner (last up, first down).

    A domain's background jobs are registered here, before the runner starts, by its
    ``tasks.register(registry, ...)``; services enqueue through ``state.job_queue``.
    """
    registry = JobRegistry()
    job_tasks.register(registry, retention=timedelta(days=settings.jobs_retention_days))
    plugin_tasks.register(
        registry, retention=timedelta(days=settings.plugin_metrics_retention_days))
    marketplace_tasks.register(registry, state, install_checks(
        settings.scan_bandit_workers, settings.scan_parallel_min_bytes))
    state.job_registry = registry
    state.job_queue = JobQueue(registry)
    await marketplace_tasks.start(state)
    if settings.jobs_concurrency == 0:
        return
    runner = JobRunner(
        state.session_factory, registry, concurrency=settings.jobs_concurrency,
        lease_seconds=settings.jobs_lease_seconds, poll_seconds=settings.jobs_poll_seconds,
    )
    state.job_runner = runner
    _on_close(stack, "job_runner", runner.stop)
    await runner.start()
