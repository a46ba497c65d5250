"""Security headers for every response; the interactive docs get a CSP that lets them run."""

from __future__ import annotations

# API responses are data, never documents: nothing may load, frame or run from them.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc are vendored (web/docs.py) and start from a same-origin script: nothing
# external may load. Both set inline styles (ReDoc injects <style>), ReDoc searches in a blob:
# worker.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
# The web console (web/): same-origin scripts and styles only, no inline script or style, no
# plugin-controlled resource (plugin text is sanitized and images are not allowed in it);
# photos and charts may use blob:/data: images; forms post to this origin only.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
CONSOLE_PATHS = frozenset({"/", "/login", "/logout"})
CONSOLE_PREFIXES = ("/console/", "/marketplace/")

_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_API = (*_COMMON, (b"content-security-policy", API_CSP.encode()))
_DOCS = (*_COMMON, (b"content-security-policy", DOCS_CSP.encode()))
_CONSOLE = (*_COMMON, (b"content-security-policy", CONSOLE_CSP.encode()))


def headers_for(path: str) -> tuple[tuple[bytes, bytes], ...]:
    if path in DOCS_PATHS:
        return _DOCS
    if path in CONSOLE_PATHS or path.startswith(CONSOLE_PREFIXES) or path == "/console":
        return _CONSOLE
    return _API
