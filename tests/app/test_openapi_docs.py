"""The OpenAPI document stays a reference: nothing in it goes undescribed or without an example.

Walks the whole document, so a new route, parameter or schema field without words fails here:
every operation has a summary, a description and tags; every parameter and every schema
property a description; every JSON request body and every main JSON response an example.
"""

from __future__ import annotations

from typing import Any

import pytest

from proofpix_plugins.app import create_app


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op)
            for path, ops in spec["paths"].items() for method, op in ops.items()]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:  # an optional body: the model beside null
        schema = next(s for s in schema["anyOf"] if "$ref" in s)
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = spec
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


def _has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(spec, media.get("schema", {}))
    if "items" in schema.get("properties", {}):  # a page: its items' schema has the example
        schema = _resolve(spec, schema["properties"]["items"].get("items", {}))
    return bool(schema.get("examples") or schema.get("example"))


def test_info_says_what_the_api_is_and_links_the_docs(spec: dict[str, Any]) -> None:
    description = spec["info"]["description"]

    assert "plugin" in description
    assert "problem+json" in description
    assert "(/docs)" in description
    assert "(/redoc)" in description
    names = {tag["name"] for tag in spec["tags"]}
    assert all(tag.get("description") for tag in spec["tags"])
    used = {tag for _, op in _operations(spec) for tag in op.get("tags", [])}
    assert used <= names


def test_every_operation_has_a_summary_a_description_and_a_tag(spec: dict[str, Any]) -> None:
    missing = [name for name, op in _operations(spec)
               if not (op.get("summary") and op.get("description") and op.get("tags"))]

    assert missing == []


def test_every_description_says_who_may_call(spec: dict[str, Any]) -> None:
    missing = [name for name, op in _operations(spec)
               if "who" not in op["description"].lower() and "anyone" not in op[
                   "description"].lower()]

    assert missing == []


def test_every_parameter_has_a_description(spec: dict[str, Any]) -> None:
    missing = [f"{name} {param['name']}" for name, op in _operations(spec)
               for param in op.get("parameters", []) if not param.get("description")]

    assert missing == []


def test_every_schema_property_has_a_description(spec: dict[str, Any]) -> None:
    missing = [f"{model}.{prop}"
               for model, schema in spec["components"]["schemas"].items()
               for prop, body in schema.get("properties", {}).items()
               if not body.get("description")]

    assert missing == []


def test_every_schema_has_a_description(spec: dict[str, Any]) -> None:
    missing = [model for model, schema in spec["components"]["schemas"].items()
               if not schema.get("description")]

    assert missing == []


def test_every_json_request_body_has_an_example(spec: dict[str, Any]) -> None:
    missing = [name for name, op in _operations(spec)
               if "application/json" in op.get("requestBody", {}).get("content", {})
               and not _has_example(spec, op["requestBody"]["content"]["application/json"])]

    assert missing == []


def test_every_main_json_response_has_an_example(spec: dict[str, Any]) -> None:
    missing = []
    for name, op in _operations(spec):
        ok = min(code for code in op["responses"] if code.startswith("2"))
        media = op["responses"][ok].get("content", {}).get("application/json")
        if media is not None and not _has_example(spec, media):
            missing.append(name)

    assert missing == []
