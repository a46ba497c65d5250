"""The list envelope of SPEC §7, ``{items, total, page, limit}``, and its query parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class PageParams(BaseModel):
    """``page`` (from 1) and ``limit`` (1 to 100) query parameters.

    In an endpoint: ``params: Annotated[PageParams, Query()]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    page: int = Field(default=1, ge=1, le=1_000_000, description="page number, from 1")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="items per page")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


class Page(BaseModel, Generic[T]):
    """One page of a list; items serialize with their own (camelCase) aliases."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True,
        use_attribute_docstrings=True,
        # A parametrized Page[X] schema does not inherit the class docstring.
        json_schema_extra={"description": "One page of a list: its items and where it stands."},
    )

    items: list[T]
    """This page's items, in the list's order."""
    total: int = Field(ge=0)
    """How many items the whole list holds (every page)."""
    page: int = Field(ge=1)
    """This page's number, from 1."""
    limit: int = Field(ge=1, le=MAX_LIMIT)
    """The page size asked for (at most 100); the last page may hold fewer items."""

    @classmethod
    def of(cls, items: Sequence[T], total: int, params: PageParams) -> Page[T]:
        return cls(items=list(items), total=total, page=params.page, limit=params.limit)
