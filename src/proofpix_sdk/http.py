"""The response object of ``ctx.http``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpResponse:
    """What ``ctx.http`` returns: status, headers, body and the final URL."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    url: str = ""

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not)."""
        return json.loads(self.content)

    @property
    def ok(self) -> bool:
        """True for a 2xx or 3xx status."""
        return 200 <= self.status < 400
