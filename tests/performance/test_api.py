"""/v1/performance/{field}: status codes and shapes."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def two_models(make_model):
    spec = dict(input_fields=["sinr_mean"], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                forecast_steps=1)
    good, worse = make_model(**spec), make_model(**spec)
    known_version(good)
    known_version(worse, offset=1.5)
    return good, worse


def test_evaluate_then_read_best_status_and_history(api, two_models, settings):
    good, worse = two_models
    response = api.post(f"/performance/{FIELD}/evaluate?metric=mae")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metric"] == "mae" and [r["model_id"] for r in body["results"]] == [str(good.id), str(worse.id)]
    assert body["results"][0]["baselines"]["persistence"] == pytest.approx(body["results"][0]["score"])
    assert body["best"]["model_id"] == str(good.id)

    assert api.get(f"/performance/{FIELD}").json()["evaluation_id"] == body["evaluation_id"]
    best = api.get(f"/performance/{FIELD}/best").json()
    assert best["threshold"] == pytest.approx(best["baseline"] * settings.MONITORING_DEGRADATION_FACTOR)
    assert best["higher_is_better"] is False and best["score"] == best["baseline"]

    status = api.get(f"/performance/{FIELD}/status").json()
    assert status["state"] == "monitoring" and status["baseline"] == best["baseline"]
    assert status["interval_seconds"] == settings.MONITORING_INTERVAL_SECONDS and status["next_check_at"]

    monitored = api.post(f"/performance/{FIELD}/monitor").json()
    assert monitored["model_id"] == str(good.id) and monitored["degraded"] is False

    history = api.get(f"/performance/{FIELD}/history").json()
    assert history["count"] == 3 and [h["trigger"] for h in history["items"]] == ["evaluate", "evaluate", "monitor"]
    only_worse = api.get(f"/performance/{FIELD}/history", model_id=str(worse.id)).json()
    assert only_worse["count"] == 1 and only_worse["items"][0]["model_id"] == str(worse.id)

    details = {m["name"]: m["details"] for m in api.get("/models", include_details="true").json()["items"]}
    assert details[good.name]["best_for"] == [FIELD] and details[worse.name]["best_for"] == []
    assert details[good.name]["scores"][FIELD]["metric"] == "mae"


def test_r2_threshold_points_the_other_way(api, two_models, settings):
    api.post(f"/performance/{FIELD}/evaluate?metric=r2")
    best = api.get(f"/performance/{FIELD}/best").json()
    factor = settings.MONITORING_DEGRADATION_FACTOR
    assert best["higher_is_better"] is True
    assert best["threshold"] == pytest.approx(1 - (1 - best["baseline"]) * factor)


def test_error_codes(api, two_models, make_model):
    good, _ = two_models
    assert api.post(f"/performance/{FIELD}/evaluate?metric=accuracy").status_code == 422
    assert api.post("/performance/no_such_kpi/evaluate").status_code == 404
    empty = api.post("/performance/cqi_max/evaluate")
    assert empty.status_code == 200 and empty.json()["results"] == [] and empty.json()["best"] is None
    assert api.get(f"/performance/{FIELD}/best").status_code == 404
    assert api.post(f"/performance/{FIELD}/monitor").status_code == 404
    assert api.get(f"/performance/{FIELD}/status").json()["state"] == "unmonitored"
    assert api.post(f"/performance/{FIELD}/set-best/{uuid.uuid4()}").status_code == 404
    rsrp = make_model(input_fields=["rsrp_mean"], output_fields=["rsrp_mean"])
    response = api.post(f"/performance/{FIELD}/set-best/{rsrp.id}")
    assert response.status_code == 422 and "does not forecast" in response.json()["detail"]
    untrained = make_model(input_fields=["sinr_mean"], output_fields=[FIELD])
    assert api.post(f"/performance/{FIELD}/set-best/{untrained.id}").status_code == 409
    assert api.get("/performance/no_such_kpi/history").status_code == 404
    unknown = api.get("/performance/no_such_kpi/best")
    assert unknown.status_code == 404 and "unknown field 'no_such_kpi'" in unknown.json()["detail"]


def test_set_best_records_who(api, two_models):
    _, worse = two_models
    response = api.post(f"/performance/{FIELD}/set-best/{worse.id}")
    assert response.status_code == 200 and response.json()["elected_by"] == "alice"
    assert response.json()["model_id"] == str(worse.id)


def test_writes_need_authentication(anonymous_api, two_models):
    assert anonymous_api.post(f"/performance/{FIELD}/evaluate").status_code == 401
    assert anonymous_api.post(f"/performance/{FIELD}/monitor").status_code == 401
