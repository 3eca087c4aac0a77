"""/v1/fields and /v1/models on the bundled real dataset."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import MlflowOutbox, ModelConfig, ModelEvent

pytestmark = pytest.mark.django_db


def body(**overrides) -> dict:
    data = {
        "name": "sinr-lstm", "architecture": "lstm", "input_fields": ["sinr_mean", "rsrp_mean"],
        "output_fields": ["sinr_mean"], "window_duration_seconds": 60, "lookback_steps": 12,
        "forecast_steps": 3, "hidden_size": 16,
    }
    data.update(overrides)
    return data


def test_fields_lists_real_kpis_of_the_bundled_data(api):
    response = api.get("/fields")
    assert response.status_code == 200
    names = [f["name"] for f in response.json()["fields"]]
    assert {"rsrp_mean", "sinr_mean", "cqi_mean", "rsrq_std", "dl_bitrate_max"} <= set(names)
    assert not {"sample_count", "cell_index", "window_start_time", "network"} & set(names)
    assert "has_models" not in response.json()["fields"][0]


def test_fields_model_status(api):
    api.post("/models", body())
    fields = {f["name"]: f["has_models"] for f in api.get("/fields", include_model_status="true").json()["fields"]}
    assert fields["sinr_mean"] is True and fields["rsrp_mean"] is False  # an input only


def test_create_get_list_delete(api):
    created = api.post("/models", body())
    assert created.status_code == 201, created.content
    model = created.json()
    assert model["input_fields"] == ["sinr_mean", "rsrp_mean"] and model["hidden_size"] == 16
    assert model["mlflow_mirror"] == "pending" and model["latest_version"] is None and model["is_training"] is False
    assert api.get(f"/models/{model['id']}").json()["name"] == "sinr-lstm"
    assert [m["id"] for m in api.get("/models").json()["items"]] == [model["id"]]

    assert api.delete(f"/models/{model['id']}").status_code == 204
    assert api.get(f"/models/{model['id']}").status_code == 404
    assert api.delete(f"/models/{model['id']}").status_code == 404
    kinds = list(ModelEvent.objects.filter(model_id=model["id"]).values_list("kind", "actor"))
    assert kinds == [("created", "alice"), ("deleted", "alice")]  # the audit trail outlives the model
    operations = list(MlflowOutbox.objects.values_list("operation", flat=True))
    assert operations == ["create_model", "delete_model"]


def test_unknown_fields_are_named_with_the_available_ones(api):
    response = api.post("/models", body(input_fields=["sinr_mean", "bogus_in"], output_fields=["bogus_out"]))
    assert response.status_code == 422
    data = response.json()
    assert data["invalid_fields"] == ["bogus_in", "bogus_out"]
    assert "rsrp_mean" in data["available_fields"] and "bogus_in" in data["detail"]
    assert not ModelConfig.objects.exists()


def test_duplicate_name_is_a_conflict(api):
    assert api.post("/models", body()).status_code == 201
    response = api.post("/models", body(architecture="ann"))
    assert response.status_code == 409 and "sinr-lstm" in response.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"lookback_steps": 0}, "lookback_steps"),
        ({"forecast_steps": 97}, "forecast_steps"),
        ({"window_duration_seconds": 86_401}, "window_duration_seconds"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"architecture": "transformer"}, "architecture"),
        ({"output_fields": []}, "output_fields"),
    ],
)
def test_bounds_are_422_naming_the_value(api, overrides, mentions):
    response = api.post("/models", body(**overrides))
    assert response.status_code == 422 and mentions in response.json()["detail"]


def test_writes_need_authentication(anonymous_api, api, settings):
    assert anonymous_api.post("/models", body()).status_code == 401
    model_id = api.post("/models", body()).json()["id"]
    assert anonymous_api.delete(f"/models/{model_id}").status_code == 401
    assert anonymous_api.get("/models").status_code == 401
    settings.API_PUBLIC_READS = True
    assert anonymous_api.get("/models").status_code == 200
    assert anonymous_api.post("/models", body(name="other")).status_code == 401


def test_a_wrong_token_is_refused(client):
    response = client.get("/v1/models", headers={"Authorization": "Bearer cw_not-a-token"})
    assert response.status_code == 401


def test_session_writes_need_csrf(user, db):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/v1/models").status_code == 200
    response = browser.post("/v1/models", body(), content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_paging_and_output_field_filter(api):
    for i in range(5):
        output = "sinr_mean" if i % 2 == 0 else "rsrp_mean"
        assert api.post("/models", body(name=f"m{i}", output_fields=[output])).status_code == 201
    page = api.get("/models", limit=2, offset=2).json()
    assert page["count"] == 5 and [m["name"] for m in page["items"]] == ["m2", "m3"]
    sinr = api.get("/models", output_field="sinr_mean").json()
    assert [m["name"] for m in sinr["items"]] == ["m0", "m2", "m4"] and sinr["count"] == 3
    assert api.get("/models", limit=501).status_code == 422


def test_unknown_model_is_404(api):
    assert api.get(f"/models/{uuid.uuid4()}").status_code == 404
    assert api.get("/models/not-a-uuid").status_code == 422


def _bulk_models(count: int) -> None:
    from registry.models import ModelField

    models = ModelConfig.objects.bulk_create(
        ModelConfig(name=f"bulk{i}", architecture="ann", window_duration_seconds=60, lookback_steps=4,
                    forecast_steps=1) for i in range(count)
    )
    ModelField.objects.bulk_create(
        [ModelField(model=m, role=role, position=0, name="sinr_mean") for m in models for role in ("input", "output")]
    )


def test_list_costs_the_same_queries_for_10_or_1000_models(api):
    _bulk_models(10)
    api.get("/models")  # the token's last-used time is written on first use only
    with CaptureQueriesContext(connection) as small:
        assert len(api.get("/models", include_details="true", limit=500).json()["items"]) == 10
    ModelConfig.objects.all().delete()
    _bulk_models(1000)
    with CaptureQueriesContext(connection) as large:
        response = api.get("/models", include_details="true", limit=500)
    assert len(response.json()["items"]) == 500 and response.json()["count"] == 1000
    # token, count, page, fields, latest jobs, latest scores, best-for: the same for any page size
    assert len(large) == len(small) <= 7


def test_viewers_read_but_cannot_write(viewer_api, api):
    model_id = api.post("/models", body()).json()["id"]
    assert viewer_api.get("/models").status_code == 200
    response = viewer_api.post("/models", body(name="by-viewer"))
    assert response.status_code == 403 and "operators role" in response.json()["detail"]
    assert viewer_api.delete(f"/models/{model_id}").status_code == 403
    assert viewer_api.post("/training/train", {"model_id": model_id}).status_code == 403
    assert viewer_api.post("/performance/sinr_mean/evaluate").status_code == 403
