"""The problem+json body as an OpenAPI schema, so every documented error has a real shape."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FieldErrorOut(BaseModel):
    field: str = Field(description="dotted path of the offending input, e.g. config.greeting")
    message: str
    rule: str | None = Field(default=None, description="stable id of the rule that failed")
    value: Any = Field(default=None, description="the offending value, bounded")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with the field errors and extension members we add."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldErrorOut] = Field(default_factory=list)
    requestId: str | None = None


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: each code documented as a problem+json body."""
    ref = {"$ref": "#/components/schemas/ProblemDetails"}
    return {
        code: {
            "model": ProblemDetails,
            "description": HTTPStatus(code).phrase,
            "content": {"application/problem+json": {"schema": ref}},
        }
        for code in codes
    }
