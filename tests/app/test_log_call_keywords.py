"""No log call passes ``event=``: structlog's first parameter is ``event`` (the message), so
the keyword is a TypeError raised at the call, in the very error path it was logging.

Found by tests/faults/test_redis_down_events.py: with Redis down, the warning for an event the
hub could not publish raised instead, failing a plugin's ``ctx.events.emit`` and every plugin
lifecycle call (four such calls, all in failure paths that no other test reached)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}


def test_no_log_call_passes_an_event_keyword() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LEVELS and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in {"log", "logger"}
                    and any(k.arg == "event" for k in node.keywords)):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
