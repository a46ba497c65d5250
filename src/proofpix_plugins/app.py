"""The application factory and its lifespan.

Nothing here runs at import time: :func:`create_app` builds the app from settings, and the
lifespan creates the engine, migrates the embedded SQLite database, opens the rate-limit storage
and runs the startup hooks of later subsystems (sandbox worker pool, plugin service).

Extension points for later subsystems:

* ``_include_routers`` is where each domain's router is mounted;
* ``startup_hooks`` / ``shutdown_hooks`` (arguments of :func:`create_app`, kept on
  ``app.state``) run in order after the core is up and in reverse order before it goes down;
* ``app.state.sandbox_report`` is the dict ``GET /api/health`` reports as ``sandbox``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from proofpix_plugins import __version__
from proofpix_plugins.accounts.auth import rate_limit_identity
from proofpix_plugins.accounts.endpoints import router as accounts_router
from proofpix_plugins.accounts.epoch_feed import PostgresEpochFeed
from proofpix_plugins.accounts.epochs import AuthEpochs
from proofpix_plugins.accounts.passwords import Passwords
from proofpix_plugins.accounts.tokens import AccessTokens
from proofpix_plugins.config import Settings
from proofpix_plugins.db import create_engine, create_session_factory
from proofpix_plugins.db_sqlite import DataVersion
from proofpix_plugins.developers.endpoints import admin_router as developers_admin_router
from proofpix_plugins.developers.endpoints import router as developers_router
from proofpix_plugins.files.endpoints import router as files_router
from proofpix_plugins.files.proof_endpoints import key_router as proof_key_router
from proofpix_plugins.files.proof_endpoints import router as proofs_router
from proofpix_plugins.jobs.endpoints import router as jobs_router
from proofpix_plugins.kit.audit import AuditWriter
from proofpix_plugins.kit.body_guard import BodyGuardMiddleware, BodyLimits
from proofpix_plugins.kit.health import CachedProbe, DatabaseProbe
from proofpix_plugins.kit.heap_trim import start_heap_trim, stop_heap_trim
from proofpix_plugins.kit.hot_route import install_hot_route
from proofpix_plugins.kit.logging import configure_logging
from proofpix_plugins.kit.metrics import HttpMetrics, metrics_endpoint
from proofpix_plugins.kit.middleware import RequestMiddleware
from proofpix_plugins.kit.openapi import install_openapi
from proofpix_plugins.kit.problem import install_problem_handlers
from proofpix_plugins.kit.rate_limit import RateLimiter
from proofpix_plugins.marketplace.analytics_routes import admin_router as market_analytics
from proofpix_plugins.marketplace.analytics_routes import developer_router as developer_dashboard
from proofpix_plugins.marketplace.discovery_endpoints import admin_router as featured_admin_router
from proofpix_plugins.marketplace.discovery_endpoints import router as discovery_router
from proofpix_plugins.marketplace.discovery_runtime import start_discovery, stop_discovery
from proofpix_plugins.marketplace.log_routes import router as marketplace_log_router
from proofpix_plugins.marketplace.moderation_routes import router as moderation_router
from proofpix_plugins.marketplace.review_routes import router as marketplace_reviews_router
from proofpix_plugins.marketplace.signing_keys import router as signing_keys_router
from proofpix_plugins.marketplace.submission_routes import router as submissions_router
from proofpix_plugins.marketplace.takedown_routes import router as takedown_router
from proofpix_plugins.marketplace.update_routes import router as marketplace_updates_router
from proofpix_plugins.migrations import upgrade_async
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.platform import start_platform, stop_platform
from proofpix_plugins.plugins.endpoints import HOOK_ROUTE_PATH
from proofpix_plugins.plugins.endpoints import router as plugins_router
from proofpix_plugins.web.console import install_console
from proofpix_plugins.web.docs import install_docs

LifecycleHook = Callable[[FastAPI], Awaitable[None]]

log = structlog.get_logger("proofpix.app")

HEALTH_DB_TIMEOUT_SECONDS = 2.0

API_DESCRIPTION = """\
The ProofPix plugin platform: install third-party plugins (`.ppx` packages) into an
organization, run them in a sandbox on the organization's photos, and manage their lifecycle,
configuration, permissions, metrics and events.

**Conventions.** JSON everywhere, field names in camelCase (the token response follows RFC 6749:
`access_token`, `refresh_token`). Lists answer `{"items": [...], "total", "page", "limit"}`.
Every error is an RFC 9457 problem (`application/problem+json`: `type`, `title`, `status`,
`detail`, `errors[]` naming each offending field and rule, `requestId`).

**Authentication.** `POST /api/auth/login` returns a 15-minute access token; send it as
`Authorization: Bearer <token>`. Plugin routes need an organization on the `enterprise` plan;
managing plugins (install, load, configure, uninstall) needs the `admin` or `owner` role.

**Limits.** Requests are rate limited per user and route class (`RateLimit-*` headers; 429 with
`Retry-After`). JSON bodies and uploads have size caps (413); a stalled body gets 408.

**Live events.** `WS /api/plugins/events/ws` streams the organization's plugin events (a
WebSocket, so not an operation of this document).

Docs: this reference as [Swagger UI](/docs) and [ReDoc](/redoc); the product specification,
plugin lifecycle and security model are in the repository's `docs/` folder (`docs/spec.md`,
`docs/plugin-lifecycle.md`, `docs/security-model.md`).
"""

OPENAPI_TAGS: list[dict[str, Any]] = [
    {"name": "auth", "description": "Accounts and sessions: register, log in, refresh and "
     "revoke tokens, read the current account."},
    {"name": "plugins", "description": "Installed plugins of the caller's organization: "
     "install, load and unload, configure, grant permissions, metrics, events, uninstall, and "
     "calling hooks (enterprise plan)."},
    {"name": "files", "description": "Photos: upload one (the organization's plugins run on "
     "it), read its record with plugin results, read its bytes."},
    {"name": "ops", "description": "Operations: health and readiness."},
    {"name": "admin", "description": "Platform administration (platform administrators "
     "only): background jobs, listed by state, and retrying a failed or dead one."},
    {"name": "developers", "description": "Marketplace developers: register a namespace, "
     "manage API keys and signing keys, check a key, download the plugin SDK, submit versions "
     "and follow them through the pipeline, per-plugin and per-version analytics (X-API-Key)."},
    {"name": "marketplace", "description": "The public plugin marketplace: search with facets, "
     "the featured list, a listing's page, downloading a signed `.ppx` (no token needed), the "
     "marketplace's public key and publication log, reviews from installing organizations and "
     "developers' replies."},
    {"name": "developers", "description": "Marketplace developers (`X-API-Key`): submit plugin "
     "versions and follow their submissions through scanning and review."},
    {"name": "marketplace", "description": "The public marketplace: its signing key and the "
     "hash-chained publication log."},
]


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool | None = None,
    startup_hooks: Sequence[LifecycleHook] = (),
    shutdown_hooks: Sequence[LifecycleHook] = (),
    platform: bool = True,
) -> FastAPI:
    """Build the API.

    ``migrate``: upgrade the database schema at startup. ``None`` (default) migrates the
    embedded SQLite database only; PostgreSQL is migrated by ``proofpix-plugins db upgrade``
    so several API processes never race a schema change.

    ``platform``: start the plugin platform (sandbox worker pool, hook bus, plugin and file
    services). Tests of unrelated areas switch it off to skip the template process.
    """
    settings = settings if settings is not None else Settings()
    app = FastAPI(
        title="ProofPix Plugin Platform",
        version=__version__,
        lifespan=_lifespan,
        # No redirect from a trailing slash: `/api/plugins/` is an empty plugin id (404), never a
        # 307 to the list, whose answer a client following it would read as a plugin's detail.
        redirect_slashes=False,
        # operationId = the endpoint's name (list_plugins, upload_file): stable and readable.
        generate_unique_id_function=_operation_id,
        # Served by web/docs.py from vendored assets: no CDN, no external request.
        docs_url=None,
        redoc_url=None,
        # Observability is our own (Prometheus by route template, request-id logs, audit):
        # FastAPI's native OpenTelemetry is off, rather than asking the global providers on
        # every request whether it is configured (~10 us a request, SPEC §11).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.migrate = migrate
    # Marketplace discovery (counters, caches) needs no sandbox: it runs with or without the
    # platform, started after it and stopped (final counter flush) before it.
    startup_hooks = [start_discovery, start_heap_trim, *startup_hooks]
    shutdown_hooks = [stop_heap_trim, stop_discovery, *shutdown_hooks]
    if platform:
        startup_hooks = [start_platform, *startup_hooks]
        shutdown_hooks = [stop_platform, *shutdown_hooks]
    app.state.startup_hooks = list(startup_hooks)
    app.state.shutdown_hooks = list(shutdown_hooks)
    # The runtime fills this at startup with what isolation the host really offers.
    app.state.sandbox_report = {"level": "unknown"}
    app.state.http_metrics = HttpMetrics()
    app.state.rate_limit_identity = rate_limit_identity

    install_problem_handlers(app)
    # Innermost of the three: its 408/413/422 answers still get CORS and the request headers.
    app.add_middleware(
        BodyGuardMiddleware,
        limits=BodyLimits(
            json_bytes=settings.max_json_body_bytes,
            upload_bytes=settings.max_upload_bytes,
            read_timeout_seconds=settings.body_read_timeout_seconds,
        ),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,  # bearer tokens, not cookies
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=[
                "X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
                "Retry-After", "X-Checksum-SHA256", "X-Signature",
            ],
            max_age=600,
        )
    # Added last, so outermost: every response, CORS preflights included, passes through it.
    app.add_middleware(RequestMiddleware)

    app.add_api_route("/api/health", health, methods=["GET"], tags=["ops"], responses={
        200: {"model": HealthOut, "description": "Every dependency answers."},
        503: {"model": HealthOut, "description": "The database or Redis does not answer."},
    })
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    _include_routers(app)
    install_openapi(app, description=API_DESCRIPTION, tags=OPENAPI_TAGS)
    install_docs(app)
    install_console(app)
    # Last, over the final route list: the hook route (SPEC §11 latency) is dispatched without
    # walking the routes, where that provably routes as FastAPI would (kit/hot_route.py).
    app.state.hot_route = install_hot_route(app, HOOK_ROUTE_PATH, "POST")
    return app


def _operation_id(route: APIRoute) -> str:
    return route.name


def _include_routers(app: FastAPI) -> None:
    """Mount each domain's router (plugins, marketplace, developers, files join here).

    Plugins first: a request is matched against the routes in this order, and the hook route
    is the hot path (no two routers share a path prefix, so the order decides nothing else).
    """
    app.include_router(plugins_router)
    app.include_router(accounts_router)
    app.include_router(files_router)
    app.include_router(jobs_router)
    app.include_router(developers_router)
    app.include_router(signing_keys_router)
    app.include_router(developers_admin_router)
    app.include_router(discovery_router)
    app.include_router(featured_admin_router)
    app.include_router(takedown_router)
    app.include_router(marketplace_updates_router)
    app.include_router(marketplace_reviews_router)
    app.include_router(developer_dashboard)
    app.include_router(market_analytics)
    app.include_router(proofs_router)
    app.include_router(proof_key_router)
    app.include_router(submissions_router)
    app.include_router(moderation_router)
    app.include_router(marketplace_log_router)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: Settings = state.settings.ensure_secrets()
    state.settings = settings
    configure_logging(settings)
    engine = create_engine(settings)
    limiter: RateLimiter | None = None
    data_version: DataVersion | None = None
    feed_task: asyncio.Task[None] | None = None
    try:
        migrate = state.migrate
        if migrate is None:
            migrate = engine.dialect.name == "sqlite"
        if migrate:
            await upgrade_async(settings)
        state.engine = engine
        state.database_probe = DatabaseProbe(engine, timeout=HEALTH_DB_TIMEOUT_SECONDS)
        state.session_factory = create_session_factory(engine)
        state.audit_writer = AuditWriter(state.session_factory)
        limiter = RateLimiter.from_settings(settings)
        state.rate_limiter = limiter
        state.redis_probe = (CachedProbe(limiter.healthy, timeout=HEALTH_DB_TIMEOUT_SECONDS,
                                         name="redis") if limiter.shared else None)
        secret = settings.jwt_secret
        assert secret is not None  # ensure_secrets filled it
        state.access_tokens = AccessTokens(
            secret.get_secret_value(), settings.access_token_ttl_seconds
        )
        state.passwords = Passwords.for_settings(settings)
        signing_key = settings.signing_key
        assert signing_key is not None  # ensure_secrets filled it
        state.platform_key = PlatformKey(signing_key.get_secret_value().encode("ascii"))
        # On SQLite every commit anywhere (another worker, the CLI, the sqlite3 shell) is seen
        # by the file's data_version: cached auth epochs are checked against it on each write.
        data_version = DataVersion.for_url(engine.url)
        state.auth_epochs = AuthEpochs(
            state.session_factory, ttl=settings.auth_epoch_cache_seconds, changes=data_version
        )
        if engine.dialect.name == "postgresql":
            # PostgreSQL announces every epoch change (accounts/epoch_feed.py).
            feed = PostgresEpochFeed(engine.url, state.auth_epochs)
            state.auth_epochs.trust(feed.delivery_generation)
            state.auth_epoch_feed = feed
            feed_task = feed.start()
            # Serve once it listens (until then every write reads the epoch); a database that
            # does not answer now is reported by /api/health, not fatal here.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.listening.wait(), 5.0)
        for hook in state.startup_hooks:
            await hook(app)
        log.info(
            "started",
            version=__version__,
            env=settings.env.value,
            database=engine.dialect.name,
            rate_limit_storage="redis" if settings.redis_url else "memory",
            sandbox=state.sandbox_report,
        )
        yield
    finally:
        for hook in reversed(state.shutdown_hooks):
            try:
                await hook(app)
            except Exception:
                log.exception("shutdown_hook_failed", hook=getattr(hook, "__name__", repr(hook)))
        if limiter is not None:
            await limiter.close()
        if feed_task is not None:
            feed_task.cancel()
            await asyncio.gather(feed_task, return_exceptions=True)
        if data_version is not None:
            data_version.close()
        await engine.dispose()


class HealthOut(BaseModel):
    """Readiness of each dependency."""

    model_config = ConfigDict(use_attribute_docstrings=True, json_schema_extra={"examples": [{
        "status": "ok", "version": "0.1.0", "database": "ok",
        "sandbox": {"level": "full", "layers": {"seccomp": True, "landlock": True}},
    }]})

    status: Literal["ok", "degraded"]
    """`ok` when every dependency answers, else `degraded` (with status 503)."""
    version: str
    """The server's version."""
    database: Literal["ok", "error"]
    """Whether the database answered `SELECT 1` within 2 s."""
    redis: Literal["ok", "error"] | None = None
    """Whether the shared rate-limit store answered; only when Redis is configured."""
    sandbox: dict[str, Any]
    """The sandbox's isolation level and layers, decided at start."""


async def health(request: Request) -> JSONResponse:
    """Check the service's health

    Readiness of each dependency: the database, Redis (when configured), and the sandbox's
    isolation level. Anyone may call it; no token.

    503 with ``"status": "degraded"`` when the database or the configured Redis does not
    answer: without Redis every rate-limited route answers 503, so a load balancer must stop
    sending traffic here. The sandbox is reported, never failed on: its level is decided at
    start and plugins refuse to load where a required layer is missing.
    """
    state = request.app.state
    # The last probe's answer for up to a second; concurrent polls share one probe in flight.
    probe: DatabaseProbe = state.database_probe
    database = "ok" if await probe.ok() else "error"
    checks = {"database": database}
    # Redis likewise: the last PING's answer for up to a second (kit/health.py).
    redis: CachedProbe | None = getattr(state, "redis_probe", None)
    if redis is not None:
        checks["redis"] = "ok" if await redis.ok() else "error"
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "version": __version__,
        **checks,
        "sandbox": state.sandbox_report,
    }
    return JSONResponse(body, status_code=200 if ok else 503)
