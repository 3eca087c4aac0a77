"""The forecast store, both backends (PostgreSQL, and ClickHouse through chdb), and /v1/forecasts:
idempotent writes, paging, filters, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from inference.batch import forecast_batch
from inference.forecast_store import Latest, Query, get_store
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture(params=["database", "clickhouse"])
def store_settings(request, settings):
    settings.FORECAST_STORE = request.param
    if request.param == "clickhouse":
        settings.CLICKHOUSE_DSN = request.getfixturevalue("clickhouse_dsn")
        settings.FORECAST_CLICKHOUSE_TABLE = f"cellwise_test.forecasts_{uuid.uuid4().hex[:12]}"
    return request.param


@pytest.fixture
def result(make_model, settings):
    """A batch forecast of every bundled cell, made before the store settings point anywhere."""
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4,
                       forecast_steps=3)
    known_version(model, offset=2.0)
    return forecast_batch(output_field=FIELD, model_id=model.id)


def test_writes_are_idempotent_and_read_back(result, store_settings):
    store = get_store()
    assert store.name == ("ClickHouse" if store_settings == "clickhouse" else "database")
    assert store.write(result) == len(result.forecasts) * 3
    store.write(result)  # a chunk run twice
    count, rows = store.query(Query(field=FIELD, limit=10**6))
    assert count == len(result.forecasts) * 3 == len(rows)
    by_key = {(r["cell"], r["step"]): r for r in rows}
    for forecast in result.forecasts:
        for k in range(3):
            row = by_key[(forecast.cell_id, k + 1)]
            assert row["value"] == pytest.approx(float(forecast.values[k]))
            assert row["origin"] == datetime.fromtimestamp(forecast.origin, UTC)
            assert row["target"] == row["origin"] + timedelta(seconds=10 * k)
            assert row["lower"] is None and row["upper"] is None and row["version"] == 1
    count, latest = store.latest(Latest(field=FIELD, limit=1000))
    assert count == len(result.forecasts) == len(latest)  # one per cell, though written twice
    values = {f.cell_id: f.values.tolist() for f in result.forecasts}
    assert all(row["values"] == pytest.approx(values[row["cell"]]) for row in latest)


@pytest.mark.parametrize("kind", ["database", "clickhouse"])
def test_batch_forecasts_store_their_interval_at_interval_coverage(request, kind, make_model, settings):
    settings.INTERVAL_COVERAGE = 0.8
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4,
                       forecast_steps=3)
    known_version(model, offset=2.0, interval_scale=5.0)  # half width = 5 x coverage = 4
    result = forecast_batch(output_field=FIELD, model_id=model.id)
    settings.FORECAST_STORE = kind
    if kind == "clickhouse":  # after the forecast, which reads the bundled data
        settings.CLICKHOUSE_DSN = request.getfixturevalue("clickhouse_dsn")
        settings.FORECAST_CLICKHOUSE_TABLE = f"cellwise_test.forecasts_{uuid.uuid4().hex[:12]}"
    store = get_store()
    store.write(result)
    count, rows = store.query(Query(field=FIELD, limit=10**6))
    assert count == len(result.forecasts) * 3 > 0
    for row in rows:
        assert row["lower"] == pytest.approx(row["value"] - 4.0, abs=1e-4)
        assert row["upper"] == pytest.approx(row["value"] + 4.0, abs=1e-4)


def test_forecasts_api_pages_and_filters(api, result, store_settings):
    get_store().write(result)
    total = len(result.forecasts) * 3
    first = api.get("/forecasts", field=FIELD, limit=4)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["count"] == total and len(body["items"]) == 4 and body["store"] == get_store().name
    pages = [api.get("/forecasts", field=FIELD, limit=4, offset=o).json()["items"] for o in range(0, total, 4)]
    keys = [(i["cell"], i["target"], i["origin"]) for page in pages for i in page]
    assert len(keys) == total and keys == sorted(keys) and len(set(keys)) == total  # stable order, no repeats
    cell = result.forecasts[0].cell_id
    one = api.get("/forecasts", field=FIELD, cell=cell).json()
    assert one["count"] == 3 and {i["cell"] for i in one["items"]} == {cell}
    second_step = datetime.fromtimestamp(result.forecasts[0].origin + 10, UTC)
    since = api.get("/forecasts", field=FIELD, cell=cell, since=second_step.isoformat()).json()
    assert [i["step"] for i in since["items"]] == [2, 3]
    naive = api.get("/forecasts", field=FIELD, cell=cell, since=second_step.replace(tzinfo=None).isoformat()).json()
    assert naive["count"] == 2  # no offset: UTC
    # An offset PostgreSQL refuses (beyond ±15:59) is converted here, not a 500 (found by the fuzz test).
    far_east = second_step.astimezone(timezone(timedelta(hours=23, minutes=1))).isoformat()
    assert api.get("/forecasts", field=FIELD, cell=cell, since=far_east).json()["count"] == 2
    assert api.get("/forecasts", field="rsrp_mean").json()["count"] == 0


def test_forecasts_api_bad_input(api, client, store_settings):
    for params in ({}, {"field": "bad field!"}, {"field": FIELD, "limit": 0}, {"field": FIELD, "limit": 1001},
                   {"field": FIELD, "offset": -1}, {"field": FIELD, "cell": "x"},
                   {"field": FIELD, "since": "yesterday"}, {"field": FIELD, "since": "0001-01-01T00:00:00+01:00"}):
        response = api.get("/forecasts", **params)
        assert response.status_code == 422 and response.json()["detail"], params
    assert client.get("/v1/forecasts", {"field": FIELD}).status_code == 401


def test_clickhouse_down_is_a_503_naming_it(api, settings):
    settings.FORECAST_STORE = "clickhouse"
    settings.CLICKHOUSE_DSN = "http://127.0.0.1:9/"  # nothing listens on the discard port
    settings.FORECAST_CLICKHOUSE_TABLE = "cellwise_test.unreachable"
    response = api.get("/forecasts", field=FIELD)
    assert response.status_code == 503 and "ClickHouse" in response.json()["detail"]
