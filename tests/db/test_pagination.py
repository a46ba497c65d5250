"""Lists page the SPEC's way: {items, total, page, limit}; bad paging input names the field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.kit.pagination import Page, PageParams
from proofpix_plugins.kit.repository import Repository, count, paginate
from proofpix_plugins.models import Organization


class OrgRepository(Repository[Organization]):
    model = Organization


class Item(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )
    plugin_id: str


async def _orgs(session: AsyncSession, n: int) -> None:
    session.add_all(Organization(name=f"o{i:03}", slug=f"o{i:03}") for i in range(n))
    await session.flush()


def test_page_serializes_as_the_spec_envelope_with_camel_case_items() -> None:
    page = Page[Item].of([Item(plugin_id="acme.exif")], total=41, params=PageParams(page=3))
    assert page.model_dump(mode="json") == {
        "items": [{"pluginId": "acme.exif"}],
        "total": 41,
        "page": 3,
        "limit": 20,
    }


@pytest.mark.parametrize(("field", "value"), [("page", 0), ("limit", 0), ("limit", 101)])
def test_out_of_range_paging_is_refused_naming_the_field(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as info:
        PageParams.model_validate({field: value})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_unknown_paging_parameter_is_refused() -> None:
    with pytest.raises(ValidationError, match="offset"):
        PageParams.model_validate({"offset": 5})


def test_paging_parameters_arrive_as_strings_from_the_query() -> None:
    params = PageParams.model_validate({"page": "2", "limit": "100"})
    assert (params.page, params.limit, params.offset) == (2, 100, 100)


async def test_paginate_returns_the_requested_slice_and_the_total(session: AsyncSession) -> None:
    await _orgs(session, 25)
    rows, total = await paginate(
        session, select(Organization).order_by(Organization.slug), page=2, limit=10
    )
    assert total == 25
    assert [o.slug for o in rows] == [f"o{i:03}" for i in range(10, 20)]


async def test_last_partial_page_and_beyond_the_end(session: AsyncSession) -> None:
    await _orgs(session, 25)
    stmt = select(Organization).order_by(Organization.slug)
    last, total = await paginate(session, stmt, page=3, limit=10)
    beyond, total_beyond = await paginate(session, stmt, page=9, limit=10)
    assert [o.slug for o in last] == ["o020", "o021", "o022", "o023", "o024"]
    assert (list(beyond), total, total_beyond) == ([], 25, 25)


async def test_count_ignores_order_and_limit(session: AsyncSession) -> None:
    await _orgs(session, 7)
    stmt = select(Organization).order_by(Organization.slug).limit(2).offset(1)
    assert await count(session, stmt) == 7


async def test_count_respects_filters(session: AsyncSession) -> None:
    await _orgs(session, 12)
    assert await count(session, select(Organization).where(Organization.slug < "o005")) == 5


async def test_paginate_refuses_a_page_below_one(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        await paginate(session, select(Organization), page=0, limit=10)


async def test_repository_add_flushes_so_defaults_are_visible(session: AsyncSession) -> None:
    repo = OrgRepository(session)
    org = await repo.add(Organization(name="n", slug="n"))
    assert org.id is not None
    assert org.created_at.tzinfo is not None
    assert await repo.get(org.id) is org


async def test_repository_paginates_with_page_params(session: AsyncSession) -> None:
    await _orgs(session, 5)
    repo = OrgRepository(session)
    rows, total = await repo.paginate(
        select(Organization).order_by(Organization.slug), PageParams(page=2, limit=2)
    )
    assert ([o.slug for o in rows], total) == (["o002", "o003"], 5)


async def test_repository_delete_removes_the_row(session: AsyncSession) -> None:
    repo = OrgRepository(session)
    org = await repo.add(Organization(name="n", slug="gone"))
    await repo.delete(org)
    assert await session.scalar(select(Organization).where(Organization.slug == "gone")) is None
