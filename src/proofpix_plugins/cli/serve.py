"""`proofpix-plugins serve`: run the API with uvicorn, in one process or several.

All state (SQLite database, blobs, generated keys) lives under ``PROOFPIX_DATA_DIR``
(default ``./.data``). Exit code 2 when the configuration is refused (e.g. production mode with
generated secrets), before anything listens.

``--workers N`` runs N API processes on one listening socket with uvicorn's own supervisor
(``uvicorn.supervisors.Multiprocess``): the parent binds the socket, spawns N children that each
build the app from :func:`worker_app` (their own sandbox template, worker pool, scratch root and
plugin staging root, all named by pid and start time), restarts a child that dies, and on
SIGTERM or SIGINT stops every child and waits for it. We use it rather than a supervisor of our
own because it already does all of that (plus health pings of each child and stopping at once
when a child cannot start); what it lacks we add around it: the embedded SQLite database is
migrated once here before any child starts, each child stops gracefully when the supervisor is
killed (PR_SET_PDEATHSIG), and the exit code says whether the children could start.
See docs/deployment.md.
"""

from __future__ import annotations

import os
import signal
from typing import TypedDict

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from uvicorn.supervisors import Multiprocess

from proofpix_plugins.app import create_app
from proofpix_plugins.cli.admin import EXIT_FAILED, EXIT_USAGE, settings_or_exit
from proofpix_plugins.config import InsecureConfiguration, Settings
from proofpix_plugins.db import parse_database_url
from proofpix_plugins.kit.logging import configure_logging
from proofpix_plugins.migrations import upgrade
from proofpix_plugins.runtime.libc import prctl

#: Most API processes one ``serve`` starts (each holds a template process and its workers).
MAX_WORKERS = 64
#: How long the supervisor waits for a child to answer its ping before it kills the child as
#: hung and starts another. A spawned child answers once it has imported the app, which takes
#: several seconds on a busy 2-core machine when N children start at once (uvicorn's 5 s
#: default killed children that were merely starting); a child whose event loop is busy still
#: answers (the ping is served by a thread).
HEALTHCHECK_TIMEOUT_SECONDS = 30
#: How a child finds its supervisor (not PROOFPIX_: it is no setting).
_SUPERVISOR_ENV = "PROOFPIX__SERVE_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1



class _UvicornOptions(TypedDict):
    log_config: None
    server_header: bool
    proxy_headers: bool


_UVICORN_OPTIONS = _UvicornOptions(
    log_config=None,  # our structlog configuration formats uvicorn's records too
    server_header=False,
    # X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (uvicorn's default: 127.0.0.1),
    # so a local reverse proxy passes the real client address on to rate limits and the audit
    # log while remote callers cannot spoof it.
    proxy_headers=True,
)


def parse_workers(value: str) -> int:
    """``auto`` (one per core this process may run on) or a number from 1 to MAX_WORKERS."""
    if value.strip().lower() == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        workers = int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a number nor 'auto'") from None
    if not 1 <= workers <= MAX_WORKERS:
        raise typer.BadParameter(f"must be 'auto' or between 1 and {MAX_WORKERS}")
    return workers


def serve(
    host: str | None = typer.Option(None, "--host", envvar="HOST", help="default 127.0.0.1"),
    port: int | None = typer.Option(
        None, "--port", envvar="PORT", min=1, max=65535, help="default 8000"
    ),
    workers: str = typer.Option(
        "1", "--workers", envvar="WORKERS",
        help="API processes sharing the port: a number, or 'auto' for one per core",
    ),
) -> None:
    """Serve the API (OpenAPI at /docs)."""
    console = Console(stderr=True, soft_wrap=True)
    count = parse_workers(workers)
    settings = settings_or_exit(console)
    try:
        # Refuse an insecure production configuration here, with a clear message, not as a
        # failed lifespan deep inside uvicorn. Generated secrets are written before any child
        # starts, so every child reads the same ones.
        settings = settings.ensure_secrets()
    except InsecureConfiguration as exc:
        console.print(f"[red]refusing to start:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    configure_logging(settings)
    host = host or settings.host
    port = port or settings.port
    if count == 1:
        # uvicorn.run, not Server.run: it turns Ctrl-C and a failed start into exit codes.
        uvicorn.run(create_app(settings), host=host, port=port, **_UVICORN_OPTIONS)
        return
    if parse_database_url(settings.resolved_database_url).get_backend_name() == "sqlite":
        # Once, before the children: they find the schema current (and would otherwise queue
        # on the migration lock one after another).
        upgrade(settings)
    os.environ[_SUPERVISOR_ENV] = str(os.getpid())
    config = uvicorn.Config("proofpix_plugins.cli.serve:worker_app", factory=True, host=host,
                            port=port, workers=count,
                            timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT_SECONDS,
                            **_UVICORN_OPTIONS)
    supervisor = _Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    if not supervisor.stopped_by_signal:
        console.print("[red]an API process could not start; see its log above[/red]")
        raise typer.Exit(EXIT_FAILED)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, remembering whether it was asked to stop or gave up."""

    stopped_by_signal = False

    def handle_int(self) -> None:
        self.stopped_by_signal = True
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by_signal = True
        super().handle_term()


def worker_app() -> FastAPI:
    """The app of one ``serve --workers N`` child (uvicorn's factory, called in the child)."""
    supervisor = os.environ.get(_SUPERVISOR_ENV)
    if supervisor is not None:
        # SIGTERM, not SIGKILL: the child shuts down as on `kill`, stopping its template and
        # workers and unmounting its scratch dirs, when the supervisor itself was killed.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != int(supervisor):
            raise SystemExit("the serve supervisor exited before this API process started")
    settings = Settings()
    configure_logging(settings)
    return create_app(settings)
