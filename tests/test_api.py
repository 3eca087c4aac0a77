"""The /v1 edge: unknown paths and methods answer JSON, and the OpenAPI declares what each operation can
answer (schemathesis holds the answers to it in tests/test_fuzz_api.py)."""

from __future__ import annotations

import pytest

from mlops_site.api import api as v1

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/models/not/a/path", "/v1/", "/v1/performance/"])
def test_an_unknown_path_is_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert "no such endpoint" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("delete", "/v1/forecasts?field=sinr_mean", "GET"), ("put", "/v1/models", "GET, POST"),
    ("post", "/v1/health", "GET"),
])
def test_a_method_a_path_does_not_take_is_a_json_405_naming_the_ones_it_takes(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405 and response["Content-Type"] == "application/json"
    assert set(response["Allow"].split(", ")) == set(allowed.split(", "))
    assert method.upper() in response.json()["detail"] and response["Allow"] in response.json()["detail"]


def operations() -> list[tuple[str, str, dict]]:
    schema = v1.get_openapi_schema()
    return [(method.upper(), path, operation) for path, methods in schema["paths"].items()
            for method, operation in methods.items()]


def error_schema(operation: dict, code: int) -> str:
    return operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]


def test_every_operation_declares_its_errors_with_one_schema():
    for method, path, operation in operations():
        if path == "/v1/health":
            continue
        declared = {int(code) for code in operation["responses"]}
        assert {422, 503} <= declared, (method, path)  # bad parameters; overload or a dependency down
        if path != "/v1/auth/token":
            assert 401 in declared, (method, path)
        if method != "GET":
            assert 403 in declared or path == "/v1/auth/token", (method, path)
        if "{" in path:
            assert 404 in declared, (method, path)
        for code in declared - {200, 201, 202, 204}:
            assert error_schema(operation, code).endswith("/ErrorOut"), (method, path, code)
    token = next(op for m, p, op in operations() if p == "/v1/auth/token")
    assert {401, 429} <= set(token["responses"])


def test_lookback_bounds_come_from_the_settings(settings):
    schema = v1.get_openapi_schema()["components"]["schemas"]["TrainIn"]["properties"]["lookback_seconds"]
    bounds = next(option for option in schema["anyOf"] if option.get("type") == "integer")
    assert (bounds["minimum"], bounds["maximum"]) == (settings.TRAINING_MIN_LOOKBACK_SECONDS,
                                                      settings.TRAINING_MAX_LOOKBACK_SECONDS)
