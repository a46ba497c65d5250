"""Structured JSON logs; the request id and route ride along via structlog's contextvars."""

from __future__ import annotations

import logging
import sys

import structlog

from proofpix_plugins.config import Settings


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the stdlib root logger (uvicorn, SQLAlchemy) to one format."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    # Replace only our own handler so repeated app creation (tests) does not stack handlers.
    for old in [h for h in root.handlers if getattr(h, "_proofpix", False)]:
        root.removeHandler(old)
    handler._proofpix = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
