"""The wire base model: camelCase on the wire, snake_case in Python (SPEC §7).

A field's docstring (the string literal under it) is its description in the OpenAPI document;
tests/app/test_openapi_docs.py fails on a field without one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """Base for every request and response body; unknown input fields are refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        from_attributes=True,
        use_attribute_docstrings=True,
    )


class CamelResponse(CamelModel):
    """Base for response bodies: tolerant of extra attributes when built from ORM rows."""

    model_config = ConfigDict(extra="ignore")
