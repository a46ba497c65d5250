"""Credentials in URLs never reach the logs (the events WebSocket takes ?access_token=)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from proofpix_plugins.config import Settings
from proofpix_plugins.kit.logging import configure_logging, reset_logging


@pytest.fixture
def json_logs(tmp_path: Path) -> Iterator[None]:
    configure_logging(Settings(data_dir=tmp_path, log_json=True))
    yield
    reset_logging()


def test_uvicorn_style_request_line_is_scrubbed(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stdlib record shaped like uvicorn's access line (uvicorn's own logger may have been
    # reconfigured by an in-process server in an earlier test, so a neutral name is used).
    logging.getLogger("proofpix.tests.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
        "/api/plugins/events/ws?access_token=eyJhbGciOi.secret.sig&x=1", "1.1", 101,
    )
    out = capsys.readouterr().out
    assert "eyJhbGciOi" not in out
    assert "access_token=***&x=1" in out


def test_structlog_event_values_are_scrubbed(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import structlog

    structlog.get_logger("t").info("ws", url="wss://h/ws?token=abc123def", note="a=b")
    out = capsys.readouterr().out
    assert "abc123def" not in out
    assert "token=***" in out
    assert "a=b" in out
