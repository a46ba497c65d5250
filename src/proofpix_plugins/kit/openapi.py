"""The OpenAPI document as clients read it: errors derived from the code, summaries, headers.

FastAPI builds the document from the routes; :func:`build_openapi` then completes it from the
same code, so it cannot drift from what the server does:

* every operation documents the problem statuses it can really answer: those of the
  dependencies it runs (``kit/problem_schema.answers``), 404 when a path names a resource,
  422 when it takes parameters or a body, 408/413 for a body, 400/415 for a multipart upload.
  Every 4xx/5xx is ``application/problem+json`` with :class:`ProblemDetails`, FastAPI's
  ``HTTPValidationError`` included;
* an endpoint's docstring gives the operation its summary (first line) and description (the
  rest): what it does, who may call it, its notable errors;
* every response documents ``X-Request-ID``; a rate-limited operation also ``RateLimit-*``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from proofpix_plugins.kit.problem_schema import ProblemDetails, problem_response, statuses_of
from proofpix_plugins.kit.routes import all_routes, declared_request_media_types, walk_dependants

_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_REQUEST_ID = {"$ref": "#/components/headers/X-Request-ID"}
_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request id: the caller's own when it sent a safe one, else a new "
        "one. Logs and problem bodies carry it.",
        "schema": {"type": "string"},
    },
    "RateLimit-Limit": {"description": "Requests allowed per window for this route class.",
                        "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the current window.",
                            "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the window resets.",
                        "schema": {"type": "integer"}},
}
_RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def install_openapi(app: FastAPI, *, description: str, tags: list[dict[str, Any]]) -> None:
    """Serve :func:`build_openapi`'s document (built once) as ``app.openapi()``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, description=description, tags=tags)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI, *, description: str, tags: list[dict[str, Any]]) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, openapi_version=app.openapi_version,
        description=description, routes=app.routes, tags=tags,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _add_model(schemas, ProblemDetails)
    components.setdefault("headers", {}).update(_HEADERS)
    for route, path, method in _operations(app):
        operation = schema["paths"][path][method]
        _describe(operation, route)
        statuses = derived_statuses(route)
        responses: dict[str, Any] = operation["responses"]
        for status in sorted(statuses):
            responses.setdefault(str(status), problem_response(status))
        for code, response in responses.items():
            if code == "422" or (code[0] in "45" and not response.get("content")):
                # FastAPI documents its 422 as application/json HTTPValidationError; the
                # problem handlers answer problem+json.
                response.update(problem_response(int(code)))
            headers = response.setdefault("headers", {})
            headers.setdefault("X-Request-ID", _REQUEST_ID)
            if 429 in statuses and code[0] == "2":
                for name in _RATE_LIMIT_HEADERS:
                    headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return schema


def derived_statuses(route: APIRoute) -> frozenset[int]:
    """The problem statuses ``route`` can answer, from its dependencies, parameters and body."""
    found: set[int] = set()
    for dependant in walk_dependants(route.dependant):
        found |= statuses_of(dependant.call)
    flat_params = list(walk_dependants(route.dependant))
    if any(d.path_params for d in flat_params):
        found.add(404)  # the resource it names may not exist (or the id cannot be one)
    if any(d.query_params or d.path_params for d in flat_params):
        found.add(422)
    media = declared_request_media_types(route)
    if route.body_field is not None or media:
        found |= {408, 413, 422}  # the body guard's stall, cap and JSON checks
    if "multipart/form-data" in media:
        found |= {400, 415}  # a broken multipart body; a part that is not the right type
    return frozenset(found)


def _operations(app: FastAPI) -> Iterator[tuple[APIRoute, str, str]]:
    for context in all_routes(app):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(context.methods or ()):
            yield route, str(context.path_format), method.lower()


def _describe(operation: dict[str, Any], route: APIRoute) -> None:
    """Summary from the docstring's first line, description from the rest (unless explicit)."""
    doc = inspect.getdoc(route.endpoint)
    if not doc or route.summary:
        return
    first, _, rest = doc.partition("\n\n")
    operation["summary"] = " ".join(first.split())
    if rest.strip():
        operation["description"] = rest.strip()
    else:
        operation.pop("description", None)


def _add_model(schemas: dict[str, Any], model: type[ProblemDetails]) -> None:
    body = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas[model.__name__] = body
