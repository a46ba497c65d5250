"""What every console page shares: the session, CSRF on unsafe methods, and errors as pages.

A handler is ``async (request, console) -> Response``; :func:`page` wraps it so that a missing
sign-in answers the sign-in page (or an ``HX-Redirect`` for htmx), a request without its CSRF
token answers 403, and every platform error (404, 409, 422, 403 …) renders as a page with its
status, never a 500 or a JSON body. Hostile form bodies (too many fields, broken multipart)
answer 400.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.storage.uploads import SpooledUpload, spool_multipart
from proofpix_plugins.web.auth import (
    UNSAFE_METHODS,
    Console,
    CsrfRefused,
    SignInRequired,
    check_csrf,
    load_console,
    require_user,
)
from proofpix_plugins.web.session import CSRF_FIELD
from proofpix_plugins.web.templating import render

Handler = Callable[[Request, Console], Awaitable[Response]]
_FORM = "application/x-www-form-urlencoded"
# Only same-site paths may be a post-login destination (no //host, no scheme, no backslash).
_LOCAL_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9/_.~%:@!$&'()*+,;=?-]{0,500}$")
MAX_FORM_FIELDS = 200


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def local_path(value: str | None, default: str = "/") -> str:
    return value if value and _LOCAL_PATH.match(value) else default


def redirect(request: Request, console: Console, url: str) -> Response:
    """After a successful POST: 303 to ``url`` (htmx follows ``HX-Redirect`` instead)."""
    if is_htmx(request):
        response: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    console.apply(response, request, request.app.state.settings)
    return response


def error_page(request: Request, status: int, title: str, detail: str,
               errors: list[str] | None = None) -> Response:
    template = "_error_fragment.html" if is_htmx(request) else "error.html"
    return render(request, template, status_code=status, title=title, heading=title,
                  detail=detail, errors=errors or [])


async def form_data(request: Request) -> FormData:
    """The urlencoded form of the request (parsed once; Starlette caches it)."""
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return _wrap(handler, upload=False)


def upload_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page taking a multipart upload: the handler must read it with :func:`spool_upload`,
    which checks the CSRF field once the (signed-in user's, capped) body is spooled."""
    return _wrap(handler, upload=True)


async def spool_upload(request: Request, console: Console) -> SpooledUpload:
    """The streamed upload of a signed-in user, after its CSRF token was checked."""
    require_user(console)
    settings = request.app.state.settings
    upload = await spool_multipart(
        request.headers.get("content-type", ""), request.stream(), file_field="file",
        max_bytes=settings.max_upload_bytes, tmp_dir=request.app.state.upload_spool.root)
    try:
        await check_csrf(request, console, upload.fields.get(CSRF_FIELD))
    except CsrfRefused:
        upload.discard()
        raise
    return upload


#: Upload pages document a multipart body so the body guard streams it up to the upload cap.
UPLOAD_BODY: dict[str, Any] = {"requestBody": {"content": {"multipart/form-data": {
    "schema": {"type": "object"}}}}}


def _wrap(handler: Handler, *, upload: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        console = await load_console(request)
        try:
            if request.method in UNSAFE_METHODS and not upload:
                presented = None
                if request.headers.get("content-type", "").startswith(_FORM):
                    presented = field(await form_data(request), CSRF_FIELD) or None
                await check_csrf(request, console, presented)
            return await handler(request, console)
        except SignInRequired:
            target = "/login?next=" + quote(local_path(request.url.path), safe="/")
            if is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return redirect(request, console, target)
        except CsrfRefused:
            return error_page(request, 403, "Request refused",
                              "The form's security token is missing or out of date. Reload the "
                              "page and try again.")
        except ProofPixError as exc:
            messages = [f"{e.field}: {e.message}" for e in exc.errors]
            return error_page(request, exc.status, exc.title, exc.detail or exc.title, messages)
        except HTTPException as exc:
            return error_page(request, exc.status_code, "Bad request", str(exc.detail))

    # Not functools.wraps: FastAPI would read the handler's signature through __wrapped__.
    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def route_kwargs(**extra: Any) -> dict[str, Any]:
    """Console routes are pages, not API operations: kept out of the OpenAPI document."""
    return {"include_in_schema": False, **extra}
