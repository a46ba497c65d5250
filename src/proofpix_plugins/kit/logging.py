"""Structured JSON logs; the request id and route ride along via structlog's contextvars.

Logs go to standard output (twelve-factor). Both structlog and the stdlib handler look up
``sys.stdout`` when they write rather than when they are configured, so a replaced stream (a
test's capture, a daemon's redirect) is honoured.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from proofpix_plugins.config import Settings


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler bound to whatever ``sys.stdout`` is at emit time."""

    _proofpix = True

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignore ``StreamHandler.__init__``'s assignment: the stream is looked up per write."""


# Credentials that can ride in a URL (the events WebSocket takes ?access_token=): uvicorn logs
# request lines with their query string, so every string in a log event is scrubbed.
_SECRET_IN_URL = re.compile(
    r"((?:access_token|refresh_token|token|api_key|apikey|password)=)[^&\s\"']+", re.IGNORECASE
)


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace credential values in URLs with ``***``."""
    for key, value in event_dict.items():
        if isinstance(value, str) and "=" in value:
            event_dict[key] = _SECRET_IN_URL.sub(r"\1***", value)
        elif isinstance(value, tuple | list) and key == "positional_args":
            event_dict[key] = type(value)(
                _SECRET_IN_URL.sub(r"\1***", v) if isinstance(v, str) else v for v in value
            )
    return event_dict


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
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # No file: each logger picks up sys.stdout when it is created.
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    # Replace only our own handler so repeated app creation (tests) does not stack handlers.
    _remove_our_handlers(root)
    root.addHandler(handler)
    root.setLevel(level)


def reset_logging() -> None:
    """Undo :func:`configure_logging` (structlog defaults, our root handler), e.g. after a test."""
    structlog.reset_defaults()
    root = logging.getLogger()
    _remove_our_handlers(root)
    root.setLevel(logging.WARNING)  # the stdlib default


def _remove_our_handlers(root: logging.Logger) -> None:
    for old in [h for h in root.handlers if getattr(h, "_proofpix", False)]:
        root.removeHandler(old)
