"""The hook route's request handler: FastAPI's contract, solved by hand (SPEC §11 latency).

``POST /api/plugins/hooks/{hook_name}`` is the platform's hot path: its budget is 2.5 x a bare
FastAPI endpoint. Through FastAPI's generic handler it cost ~4-7x: the dependency solver walked
a rate-limit dependency and four nested auth dependencies (``_get_cache_key``, signature checks
and scope bookkeeping per level), the body went through the generic body solving, and the result
through the generic response serialisation.

:class:`HookRoute` keeps the route's declaration exactly as written in ``endpoints.py`` — its
signature, ``response_model`` and dependencies are what OpenAPI documents and what the
differential test (tests/plugins/test_hook_route.py) runs through FastAPI's own handler — and
replaces only the per-request handler with one flat function that does the same work in the
same order:

1. the route's rate limit (``rate_limit("hooks")``: RateLimit-* headers, 429 naming the
   setting), as the route's ``dependencies`` would;
2. authentication and authorization by calling the very dependency functions the signature
   names (``bearer_scheme`` → ``current_user``, which re-checks the account through the auth
   epoch for a write → the enterprise-tier guard), without the solver around them;
3. the ``hook_name`` path parameter validated as declared (``HookName``: its length too), then
   the body as FastAPI reads it (JSON only under a JSON content type, ``strict_content_type``)
   validated by a precompiled ``TypeAdapter`` of the declared model; errors are raised as
   FastAPI's ``RequestValidationError`` with the same ``("path", ...)``/``("body", ...)``
   locations, together as FastAPI raises them, so the problem handler renders the same paths;
4. the endpoint function itself, then the declared ``response_model`` applied as FastAPI does
   (validated, dumped by alias with ``exclude_none``) into one pre-serialised response.

Everything around the handler — routing, middleware (request id, metrics, audit of refusals,
the edge guard), exception handlers — is FastAPI's and Starlette's, unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from proofpix_plugins.accounts.auth import (
    Principal,
    bearer_scheme,
    confirmed_principal,
    current_user,
)
from proofpix_plugins.kit.body_guard import parsed_json
from proofpix_plugins.kit.routes import PatternRoute

Guard = Callable[[Principal], Awaitable[Principal]]
Limit = Callable[[Request], Awaitable[None]]


class _Undefined:
    """No body was sent (FastAPI's ``Undefined``: the missing-body error)."""


_UNDEFINED = _Undefined()


def _is_json(content_type: str) -> bool:
    if content_type == "application/json":
        return True
    # FastAPI's own test, so that what is JSON to it is JSON here.
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def _read_body(request: Request, strict_content_type: bool) -> Any:
    raw = await request.body()
    if not raw:
        return _UNDEFINED
    content_type = request.headers.get("content-type")
    if not content_type:
        # The edge guard already refused an untyped body that is not valid JSON.
        return raw if strict_content_type else parsed_json(request.scope, raw)
    if _is_json(content_type):
        # The edge guard parsed it already: valid JSON, finite numbers, no NUL.
        return parsed_json(request.scope, raw)
    return raw


def _missing_body() -> dict[str, Any]:
    error = ValidationError.from_exception_data(
        "Field required", [{"type": "missing", "loc": ("body",), "input": {}}]
    ).errors(include_url=False)[0]
    error["input"] = None
    return dict(error)


class HookRoute(PatternRoute):
    """A :class:`PatternRoute` for the hook endpoint: documented and routed as declared (a
    malformed hook name is a 404 before any guard), handled flat.

    ``limit`` and ``guard`` are the rate-limit dependency of the route's ``dependencies`` and the
    authorization dependency of its principal parameter; the endpoint must take ``hook_name``,
    ``body``, ``principal`` and ``service`` (as ``execute_hook`` does).
    """

    limit: Limit
    guard: Guard

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        limit, guard = self.limit, self.guard
        assert self.body_field is not None
        assert self.response_model is not None
        body_type = self.body_field.field_info.annotation
        assert body_type is not None
        body_adapter: TypeAdapter[Any] = TypeAdapter(body_type)
        result_adapter: TypeAdapter[Any] = TypeAdapter(self.response_model)
        strict = self.strict_content_type
        strict_content_type = bool(
            strict.value if isinstance(strict, DefaultPlaceholder) else strict
        )
        exclude_none = self.response_model_exclude_none
        status_code = self.status_code or 200
        # The path parameter as declared (its max_length too: routing checks only the pattern).
        (hook_field,) = self.dependant.path_params

        async def handle(request: Request) -> Response:
            await limit(request)
            credentials = await bearer_scheme(request)
            principal = await guard(
                await confirmed_principal(await current_user(request, credentials))
            )
            # FastAPI's order: the path parameter's errors, then the body's, raised together.
            hook_name, errors = hook_field.validate(
                request.path_params.get(hook_field.alias), loc=("path", hook_field.alias))
            received = await _read_body(request, strict_content_type)
            if received is _UNDEFINED:
                errors.append(_missing_body())
            else:
                try:
                    body = body_adapter.validate_python(received, from_attributes=True)
                except ValidationError as exc:
                    errors.extend(
                        {**err, "loc": ("body", *err.get("loc", ()))}
                        for err in exc.errors(include_url=False)
                    )
            if errors:
                raise RequestValidationError(errors)
            result = await endpoint(
                hook_name=hook_name, body=body, principal=principal,
                service=request.app.state.plugin_service,
            )
            value = result_adapter.validate_python(result, from_attributes=True)
            content = result_adapter.dump_json(value, by_alias=True, exclude_none=exclude_none)
            return Response(content, status_code=status_code, media_type="application/json")

        return handle

    def hot_app(self) -> ASGIApp:
        """The handler as a bare ASGI app, for the direct dispatch (kit/hot_route.py).

        FastAPI's ``request_response`` around a handler opens two exit stacks (for dependencies
        with ``yield``: this handler runs none) and applies the app's exception handlers itself;
        here an exception goes on to the app's ``ExceptionMiddleware``, which applies the same
        handlers to the same scope before anything was sent.
        """
        handle = self.get_route_handler()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handle(Request(scope, receive, send))
            await response(scope, receive, send)

        return app


def hook_route(*, limit: Limit, guard: Guard) -> type[HookRoute]:
    """The route class for ``route_class_override``, bound to the route's two dependencies."""
    return type("HookRoute", (HookRoute,),
                {"limit": staticmethod(limit), "guard": staticmethod(guard)})
