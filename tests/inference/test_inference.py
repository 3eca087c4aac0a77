"""/v1/inference on the bundled data: every status code, and forecasts that can be checked."""

from __future__ import annotations

import socket
import uuid

import pytest
from django.core.cache import cache as django_cache

from inference import cache
from performance.services import election
from telemetry.sources import latest_source
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
READY_CELL = 11016973  # its last 12 windows of 10 s are contiguous and complete
SHORT_CELL = 10805003  # only 5 complete windows at the end of its data


@pytest.fixture
def model(make_model):
    m = make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                   lookback_steps=12, forecast_steps=3)
    known_version(m, offset=0.5)
    return m


def test_forecast_with_the_elected_best(api, model):
    election.field_evaluate(field=FIELD)
    response = api.post("/inference", {"output_field": FIELD, "cell_id": READY_CELL})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_id"] == str(model.id) and body["version"] == 1 and body["architecture"] == "ann"
    assert body["window_duration_seconds"] == 10 and body["source"] == "embedded dataset"
    latest = latest_source().latest_windows(cell_index=READY_CELL, window_seconds=10, count=12, fields=[FIELD])
    last_value = float(latest.column(FIELD)[-1])
    predictions = body["predictions"]
    assert [p["step"] for p in predictions] == [1, 2, 3]
    # This version forecasts "last value + 0.5" at every step, in KPI units.
    assert all(p["values"][FIELD] == pytest.approx(last_value + 0.5, abs=1e-4) for p in predictions)
    assert predictions[0]["window_start"] == body["input_end"]
    assert predictions[1]["window_start"] == predictions[0]["window_end"]


def test_a_zero_change_model_forecasts_exactly_the_last_value(api, make_model):
    """Residual targets round trip: predicting no change gives back the last observed value."""
    still = make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=["rsrp_mean", FIELD],
                       window_duration_seconds=10, lookback_steps=12, forecast_steps=2)
    known_version(still, offset=0.0)
    body = api.post("/inference", {"output_field": FIELD, "cell_id": READY_CELL, "model_id": str(still.id)}).json()
    latest = latest_source().latest_windows(cell_index=READY_CELL, window_seconds=10, count=12,
                                            fields=["rsrp_mean", FIELD])
    for prediction in body["predictions"]:
        assert prediction["values"][FIELD] == pytest.approx(float(latest.column(FIELD)[-1]), abs=1e-5)
        assert prediction["values"]["rsrp_mean"] == pytest.approx(float(latest.column("rsrp_mean")[-1]), abs=1e-5)


def test_forecast_with_an_explicit_model_needs_no_election(api, model):
    response = api.post("/inference", {"output_field": FIELD, "cell_id": READY_CELL, "model_id": str(model.id)})
    assert response.status_code == 200


def test_weights_are_loaded_once_per_version(api, model):
    for _ in range(3):
        assert api.post("/inference", {"output_field": FIELD, "cell_id": READY_CELL,
                                       "model_id": str(model.id)}).status_code == 200
    assert cache.size() == 1


def test_error_codes(api, model, make_model, settings):
    body = {"output_field": FIELD, "cell_id": READY_CELL}
    no_best = api.post("/inference", body)
    assert no_best.status_code == 409 and "evaluate the field first" in no_best.json()["detail"]
    assert api.post("/inference", {**body, "model_id": str(uuid.uuid4())}).status_code == 404
    wrong_field = api.post("/inference", {**body, "output_field": "rsrp_mean", "model_id": str(model.id)})
    assert wrong_field.status_code == 422 and "does not forecast" in wrong_field.json()["detail"]
    untrained = make_model(input_fields=[FIELD], output_fields=[FIELD])
    assert api.post("/inference", {**body, "model_id": str(untrained.id)}).status_code == 409
    short = api.post("/inference", {**body, "cell_id": SHORT_CELL, "model_id": str(model.id)})
    assert short.status_code == 422
    assert short.json()["found"] == 5 and short.json()["needed"] == 12 and "5 complete" in short.json()["detail"]
    unknown_cell = api.post("/inference", {**body, "cell_id": 1, "model_id": str(model.id)})
    assert unknown_cell.status_code == 404 and "cell 1 is unknown" in unknown_cell.json()["detail"]
    assert api.post("/inference", {"cell_id": READY_CELL}).status_code == 422  # no field

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.DATA_STORAGE_API_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings.REQUEST_RETRIES = 0
    down = api.post("/inference", {**body, "model_id": str(model.id)})
    assert down.status_code == 503 and down.json()["dependency"] == "Data Storage API"


def test_inferences_are_counted(api, model):
    from inference.instruments import INFERENCES

    counter = INFERENCES.labels(model=str(model.id), field=FIELD)
    before = counter._value.get()
    api.post("/inference", {"output_field": FIELD, "cell_id": READY_CELL, "model_id": str(model.id)})
    assert counter._value.get() == before + 1


def test_ready_cells_are_exactly_the_cells_a_forecast_accepts(api, model):
    election.field_evaluate(field=FIELD)
    response = api.get("/inference/cells", output_field=FIELD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_id"] == str(model.id) and body["lookback_steps"] == 12
    assert body["total_cells"] == body["scanned_cells"] == len(latest_source().cells()) == len(body["cells"])
    by_cell = {c["cell_id"]: c for c in body["cells"]}
    assert by_cell[READY_CELL]["ready"] and by_cell[SHORT_CELL] == {"cell_id": SHORT_CELL, "complete_windows": 5,
                                                                   "checked": True, "ready": False}
    ready = [c["ready"] for c in body["cells"]]
    assert ready == sorted(ready, reverse=True) and body["ready_cells"] == [c["cell_id"] for c in body["cells"]
                                                                           if c["ready"]]
    for cell in body["cells"]:  # the list never promises what /inference refuses, nor hides what it accepts
        status = api.post("/inference", {"output_field": FIELD, "cell_id": cell["cell_id"]}).status_code
        assert status == (200 if cell["ready"] else 422), cell


def test_ready_cells_errors_match_the_forecast(api, model):
    no_best = api.get("/inference/cells", output_field=FIELD)
    assert no_best.status_code == 409 and "evaluate the field first" in no_best.json()["detail"]
    assert api.get("/inference/cells", output_field=FIELD, model_id=str(uuid.uuid4())).status_code == 404
    assert api.get("/inference/cells", output_field="rsrp_mean", model_id=str(model.id)).status_code == 422
    assert api.get("/inference/cells").status_code == 422  # no field
    explicit = api.get("/inference/cells", output_field=FIELD, model_id=str(model.id))
    assert explicit.status_code == 200 and READY_CELL in explicit.json()["ready_cells"]


def test_the_bundled_data_is_scanned_whole_whatever_the_budget(api, model, settings):
    """No cut-off on the bundled data (nor ClickHouse): the budget binds the Data Storage API only."""
    election.field_evaluate(field=FIELD)
    settings.READINESS_BUDGET_SECONDS = 0
    body = api.get("/inference/cells", output_field=FIELD).json()
    assert body["scanned_cells"] == body["total_cells"] == len(latest_source().cells())
    assert body["unchecked_cells"] == []
    django_cache.clear()
    paged = api.get("/inference/cells", output_field=FIELD, limit=2, offset=1).json()
    assert [c["cell_id"] for c in paged["cells"]] == [c["cell_id"] for c in body["cells"]][1:3]
    assert paged["count"] == body["total_cells"] and paged["ready_cells"] == [c["cell_id"] for c in paged["cells"]
                                                                             if c["ready"]]
