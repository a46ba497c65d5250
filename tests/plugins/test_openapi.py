"""The OpenAPI document describes every plugin and file route completely."""

from __future__ import annotations

from proofpix_plugins.app import create_app

ROUTES = ("/api/plugins", "/api/files")


def _operations() -> list[tuple[str, str, dict[str, object]]]:
    spec = create_app().openapi()
    return [
        (method, path, op)
        for path, ops in spec["paths"].items()
        if path.startswith(ROUTES)
        for method, op in ops.items()
    ]


def test_every_route_documents_problem_json_errors() -> None:
    ops = _operations()
    assert len(ops) >= 14
    for method, path, op in ops:
        responses = op["responses"]
        assert isinstance(responses, dict)
        # The marketplace's reads are public (SPEC §7): no token, so no 401.
        public = method == "get" and path.startswith("/api/plugins/marketplace/")
        assert ({"422"} if public else {"401", "422"}) <= set(responses), (method, path)
        for code, response in responses.items():
            if code[0] not in "45":
                continue
            # problem+json only: never FastAPI's application/json HTTPValidationError.
            assert set(response["content"]) == {"application/problem+json"}, (method, path, code)
            assert response["content"]["application/problem+json"]["schema"]["$ref"].endswith(
                "/ProblemDetails")


def test_every_json_success_response_has_a_schema() -> None:
    for method, path, op in _operations():
        responses = op["responses"]
        assert isinstance(responses, dict)
        ok = next(code for code in responses if code.startswith("2"))
        # Binary answers (an image, a .ppx, a zip) have their own media types.
        if ok == "204" or path.endswith(("/content", "/download", "/export", "/sdk/{language}")):
            continue
        schema = responses[ok]["content"]["application/json"]["schema"]
        assert schema.get("$ref") or (schema.get("type") == "object" and schema.get(
            "properties")), (method, path, schema)


def test_install_documents_the_upload_request_body() -> None:
    spec = create_app().openapi()
    body = spec["paths"]["/api/plugins/install"]["post"]["requestBody"]
    assert body["required"] is True
    # An upload, or a JSON body naming a marketplace version (issue #14).
    assert set(body["content"]) == {"multipart/form-data", "application/json"}
    market = body["content"]["application/json"]["schema"]
    assert set(market["required"]) == {"source", "pluginId"}
    assert market["additionalProperties"] is False
    form = body["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert form["properties"]["file"] == {
        "type": "string", "format": "binary", "description": "the .ppx package"}
    metadata = form["properties"]["metadata"]
    # A JSON object part, typed: not an opaque string.
    assert metadata["type"] == "object"
    assert "grantPermissions" in metadata["properties"]
    assert body["content"]["multipart/form-data"]["encoding"] == {
        "metadata": {"contentType": "application/json"}}
