"""The Jinja2 environment of the console pages: autoescaping always, the Markdown filter, assets.

Every value is escaped unless it went through ``markdown`` (sanitized by nh3); templates never
use ``|safe``. Script and stylesheet URLs carry a content hash so they can be cached for a year.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from proofpix_plugins.web.assets import asset_url
from proofpix_plugins.web.auth import Console
from proofpix_plugins.web.markdown import render_markdown
from proofpix_plugins.web.navigation import navigation

TEMPLATES_DIR = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["markdown"] = render_markdown
env.globals["asset"] = asset_url


def _tojson_attr(value: Any) -> Markup:
    # For data-* attributes: JSON, HTML-escaped by the attribute's autoescape afterwards.
    return Markup.escape(json.dumps(value, separators=(",", ":")))


env.filters["json_attr"] = _tojson_attr


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page (or an htmx fragment) rendered server-side, with the console's cookie applied."""
    console: Console | None = getattr(request.state, "console", None)
    context.setdefault("principal", console.principal if console else None)
    context.setdefault("csrf_token", console.csrf if console else "")
    context.setdefault("nav", navigation(request.url.path,
                                         console.principal if console else None))
    context.setdefault("title", "ProofPix")
    html = env.get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status_code,
                            headers={"Cache-Control": "no-store"})
    if console is not None:
        console.apply(response, request, request.app.state.settings)
    return response
