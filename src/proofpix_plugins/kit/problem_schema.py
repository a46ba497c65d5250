"""The problem+json body as an OpenAPI schema, and which statuses each dependency can answer.

Every documented error has the real shape (:class:`ProblemDetails`, ``application/problem+json``).
Which errors an operation documents is derived, not listed by hand: a dependency that can
refuse a request says so with :func:`answers` (``current_user`` 401, the tier and role guards
403, ``rate_limit`` 429 and 503), and ``kit/openapi.py`` gives every route the statuses of the
dependencies it really runs, plus what its parameters and body can draw (400/408/413/415/422).
Errors only a service raises (404 for an unknown plugin, 409) stay on the route's ``responses``.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

#: Attribute a dependency callable carries: the problem statuses it can answer.
STATUSES_ATTR = "__problem_statuses__"

_F = TypeVar("_F", bound=Callable[..., Any])


def answers(*codes: int) -> Callable[[_F], _F]:
    """Mark a dependency with the problem statuses it can answer (see the module docstring)."""

    def mark(func: _F) -> _F:
        setattr(func, STATUSES_ATTR, frozenset(codes) | getattr(func, STATUSES_ATTR, frozenset()))
        return func

    return mark


def statuses_of(func: Any) -> frozenset[int]:
    found: frozenset[int] = getattr(func, STATUSES_ATTR, frozenset())
    return found


class FieldErrorOut(BaseModel):
    """One offending input: which field, what is wrong, and the rule it broke."""

    field: str = Field(
        description="Dotted path of the offending input, e.g. `config.greeting`, `file`, "
        "`query.limit`; `body` for the body as a whole."
    )
    message: str = Field(description="What is wrong, in words meant for the caller.")
    rule: str | None = Field(
        default=None,
        description="Stable id of the rule that failed (e.g. `max-body-size`, `no-nul`, "
        "`PPX-MAN-ID`), for programs to branch on.",
    )
    value: Any = Field(
        default=None, description="The offending value, or the bound it broke, when useful."
    )


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with the field errors and extension members we add."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{
            "type": "https://proofpix.dev/problems/validation",
            "title": "Validation Failed",
            "status": 422,
            "detail": "The request has invalid fields: limit",
            "instance": "/api/plugins",
            "errors": [{"field": "limit", "message": "Input should be less than or equal to 100",
                        "rule": "less_than_equal"}],
            "requestId": "5f0c6a4e2b9d4c1e8f7a6b5c4d3e2f1a",
        }]},
    )

    type: str = Field(description="URI naming the kind of problem; stable per kind.")
    title: str = Field(description="Short summary of the kind of problem (the status phrase).")
    status: int = Field(description="The HTTP status code, repeated for convenience.")
    detail: str = Field(description="What went wrong with this request, in words.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldErrorOut] = Field(
        default_factory=list,
        description="One entry per offending field; empty when no single field is at fault.",
    )
    requestId: str | None = Field(
        default=None,
        description="The request id (also the `X-Request-ID` header): quote it when reporting.",
    )


#: Response headers problems carry, by status (OpenAPI header objects).
_RETRY_AFTER = {"description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1}}
PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer` when no token was sent.",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {**_RETRY_AFTER, "required": True}},
    503: {"Retry-After": _RETRY_AFTER},
}

#: What each status means on this API, as the response description.
_MEANINGS: dict[int, str] = {
    400: "The body is malformed in a way no field rule describes (e.g. broken multipart).",
    401: "No valid access token, or the account or membership behind it no longer exists.",
    403: "Authenticated, but the organization's tier or the caller's role does not allow this.",
    404: "Nothing at this path for the caller (other organizations' resources included).",
    408: "The request body stopped arriving before it was complete.",
    409: "The request conflicts with the resource's current state.",
    413: "The body, or one of its parts, is larger than its limit.",
    415: "The body is not of a type this operation accepts.",
    422: "A parameter or body field broke its rule; `errors` names each one.",
    429: "The caller's rate limit for this route class is spent; see `Retry-After`.",
    503: "A dependency (the rate-limit store, the database) is unavailable; retry later.",
    507: "The server's storage is full; nothing was kept. Retry once space is freed.",
}


def problem_response(code: int) -> dict[str, Any]:
    """The OpenAPI response object of one problem status."""
    response: dict[str, Any] = {
        "description": _MEANINGS.get(code, HTTPStatus(code).phrase),
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/ProblemDetails"},
        }},
    }
    if code in PROBLEM_HEADERS:
        response["headers"] = dict(PROBLEM_HEADERS[code])
    return response


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: each code documented as a problem+json body."""
    # No ``model``: FastAPI would document it as application/json too. kit/openapi.py puts
    # ProblemDetails into the document's components.
    return {code: problem_response(code) for code in codes}
