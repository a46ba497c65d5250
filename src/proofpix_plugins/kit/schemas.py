"""The wire base model: camelCase on the wire, snake_case in Python (SPEC §7)."""

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
    )


class CamelResponse(CamelModel):
    """Base for response bodies: tolerant of extra attributes when built from ORM rows."""

    model_config = ConfigDict(extra="ignore")
