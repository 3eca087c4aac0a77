"""Realised accuracy (performance/realised.py, GET /v1/performance/{field}/realised): stored
forecasts (database store) joined with the bundled data's actual windows, errors by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from inference.batch import BatchResult, CellForecast, forecast_batch
from inference.forecast_store import get_store
from performance import realised
from telemetry.sources import latest_source
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
WS = 10


def _result(make_model, settings) -> BatchResult:
    settings.FORECAST_STORE = "database"
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=WS, lookback_steps=4,
                       forecast_steps=3)
    known_version(model, offset=2.0, interval_scale=5.0)
    return forecast_batch(output_field=FIELD, model_id=model.id)


def _arrived_origin(source, cell: int) -> int:
    """A window start in the bundled data whose 3 windows all hold a value."""
    end = source.now()
    frame = source.windows(cell_index=cell, window_seconds=WS, start=end - 86_400 * 30, end=end, fields=[FIELD])
    values = frame.select([FIELD]).values[:, 0]
    for i in range(len(frame.start) - 3, 0, -1):
        starts = frame.start[i:i + 3]
        if list(starts - starts[0]) == [0, WS, 2 * WS] and not np.isnan(values[i:i + 3]).any():
            return int(starts[0])
    raise AssertionError("no 3 consecutive windows with values")


def _actual(source, cell: int, start: int) -> float:
    frame = source.windows(cell_index=cell, window_seconds=WS, start=start, end=start + WS, fields=[FIELD])
    return float(frame.select([FIELD]).values[0, 0])


def test_a_stored_forecasts_realised_error_is_the_hand_computed_one(make_model, settings, api):
    base = _result(make_model, settings)
    source = latest_source()
    cell = base.forecasts[0].cell_id
    origin = _arrived_origin(source, cell)
    values = np.array([1.0, 2.0, 3.0])
    past = CellForecast(cell, origin, origin - 4 * WS, values, values - 0.5, values + 0.5)
    # Windows after the data (closed by the clock but never arrived) and windows after the clock.
    arrived_not = CellForecast(cell, int(base.forecasts[0].origin), 0, values, None, None)
    future = CellForecast(cell, source.now() + 3600, 0, values, None, None)
    store = get_store()
    for forecast in (past, arrived_not, future):  # one at a time: each is the cell's latest in turn
        store.write(replace(base, forecasts=[forecast]))

    found = realised.realised(FIELD, since=datetime.fromtimestamp(origin - 3600, UTC))
    assert found.rows_read == 6  # the future forecast's windows have not closed: not read
    by_step = {s["step"]: s for s in found.series}
    assert sorted(by_step) == [1, 2, 3]
    for k in range(3):
        actual = _actual(source, cell, origin + k * WS)
        series = by_step[k + 1]
        assert series["count"] == 1  # the forecast whose windows never arrived is not counted
        assert series["rmse"] == pytest.approx(abs(values[k] - actual))
        assert series["mae"] == pytest.approx(abs(values[k] - actual))
        assert series["coverage"] == (1.0 if abs(values[k] - actual) <= 0.5 else 0.0)
        assert series["points"][0]["count"] == 1
        assert series["model_id"] == str(base.entry.model_id)

    overall = realised.best_score(FIELD, base.entry.model_id, since=datetime.fromtimestamp(origin - 3600, UTC))
    errors = [values[k] - _actual(source, cell, origin + k * WS) for k in range(3)]
    assert overall["count"] == 3 and overall["rmse"] == pytest.approx(float(np.sqrt(np.mean(np.square(errors)))))
    assert overall["mae"] == pytest.approx(float(np.mean(np.abs(errors))))
    assert realised.best_score(FIELD, base.entry.model_id, version=2,
                               since=datetime.fromtimestamp(origin - 3600, UTC))["count"] == 0

    response = api.get(f"/performance/{FIELD}/realised",
                       since=datetime.fromtimestamp(origin - 3600, UTC).isoformat(), bucket_seconds=600)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rows_read"] == 6 and not body["truncated"] and body["nominal_coverage"] == settings.INTERVAL_COVERAGE
    assert [s["count"] for s in body["series"]] == [1, 1, 1]
    assert body["series"][0]["rmse"] == pytest.approx(by_step[1]["rmse"])


def test_the_row_cap_is_reported(make_model, settings):
    base = _result(make_model, settings)
    source = latest_source()
    cell = base.forecasts[0].cell_id
    origin = _arrived_origin(source, cell)
    get_store().write(replace(base, forecasts=[CellForecast(cell, origin, 0, np.zeros(3))]))
    settings.REALISED_MAX_ROWS = 2
    found = realised.realised(FIELD, since=datetime.fromtimestamp(origin - 60, UTC))
    assert found.truncated and found.rows_read == 2
    assert sorted(s["step"] for s in found.series) == [2, 3]  # newest targets first


def test_realised_api_bad_input(api, anonymous_api):
    assert api.get("/performance/no_such_kpi/realised").status_code == 404
    assert "no_such_kpi" in str(api.get("/performance/no_such_kpi/realised").json())
    assert api.get(f"/performance/{FIELD}/realised", since="yesterday").status_code == 422
    assert api.get(f"/performance/{FIELD}/realised", bucket_seconds=1).status_code == 422
    assert anonymous_api.get(f"/performance/{FIELD}/realised").status_code == 401
    empty = api.get(f"/performance/{FIELD}/realised", since=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert empty.status_code == 200 and empty.json()["series"] == []
    far_east = (datetime.now(UTC) - timedelta(hours=1)).astimezone(timezone(timedelta(hours=23, minutes=59)))
    assert api.get(f"/performance/{FIELD}/realised", since=far_east.isoformat()).status_code == 200
    out_of_range = api.get(f"/performance/{FIELD}/realised", until="0001-01-01T00:00:00+01:00")
    assert out_of_range.status_code == 422 and "until" in out_of_range.json()["detail"]


def test_both_stores_read_the_same_closed_forecasts(make_model, settings, request):
    import uuid

    base = _result(make_model, settings)
    source = latest_source()
    cell = base.forecasts[0].cell_id
    origin = _arrived_origin(source, cell)
    values = np.array([1.0, 2.0, 3.0])
    rows = {}
    for kind in ("database", "clickhouse"):
        settings.FORECAST_STORE = kind
        if kind == "clickhouse":
            settings.CLICKHOUSE_DSN = request.getfixturevalue("clickhouse_dsn")
            settings.FORECAST_CLICKHOUSE_TABLE = f"cellwise_test.forecasts_{uuid.uuid4().hex[:12]}"
        store = get_store()
        store.write(replace(base, forecasts=[CellForecast(cell, origin, 0, values, values - 1, values + 1)]))
        store.write(replace(base, forecasts=[CellForecast(cell + 1, origin, 0, values, None, None)]))
        # Until the end of the second window: the third has not closed.
        rows[kind] = store.closed(field=FIELD, since=datetime.fromtimestamp(origin, UTC),
                                  until=datetime.fromtimestamp(origin + 2 * WS, UTC), limit=100)
    for kind, found in rows.items():
        order = np.lexsort((found["cell"], found["target"]))
        assert list(found["step"][order]) == [1, 1, 2, 2], kind
        assert list(found["target"][order]) == [origin, origin, origin + WS, origin + WS], kind
        assert np.allclose(found["lower"][order][[0, 2]], [0.0, 1.0]) and np.isnan(found["lower"][order][[1, 3]]).all()
        assert set(found["model_id"]) == {str(base.entry.model_id)}


def test_the_field_page_charts_it_and_the_dashboard_shows_the_bests(make_model, settings, client, user):
    from performance.services import election

    base = _result(make_model, settings)
    source = latest_source()
    cell = base.forecasts[0].cell_id
    origin = _arrived_origin(source, cell)
    values = np.array([1.0, 2.0, 3.0])
    get_store().write(replace(base, forecasts=[CellForecast(cell, origin, 0, values)]))
    settings.REALISED_DEFAULT_HOURS = (source.now() - origin) / 3600 + 1
    election.field_best_override(field=FIELD, model_id=base.entry.model_id)
    errors = [values[k] - _actual(source, cell, origin + k * WS) for k in range(3)]
    client.force_login(user)
    page = client.get(f"/fields/{FIELD}/")
    assert page.status_code == 200 and b'data-chart="realised-chart"' in page.content
    assert b"step 3" in page.content
    table = client.get("/partials/dashboard/").content.decode()
    buckets = [(origin + k * WS) // 3600 for k in range(3)]
    newest = [e for e, b in zip(errors, buckets, strict=True) if b == max(buckets)]
    expected = float(np.sqrt(np.mean(np.square(newest))))
    found = realised.latest_rmse(realised.cached(FIELD), base.entry.model_id)
    assert found["rmse"] == pytest.approx(expected) and found["count"] == len(newest)
    cell_html = table.split('data-label="Realised rmse">')[1].split("</td>")[0]
    assert f"{len(newest)} forecasts" in cell_html, cell_html


@pytest.fixture
def monitored(make_model, settings):
    """A field with an elected best (backtest baseline) and a monitor due now, realised scoring on;
    `store(errors)` stores one forecast of the best whose windows have arrived, off by `errors`."""
    from performance.services import election, monitors

    settings.MONITORING_SCORE_SOURCE = "realised"
    settings.MONITORING_DEGRADATION_FACTOR = 1.5
    settings.MONITORING_REALISED_MIN_COUNT = 3
    base = _result(make_model, settings)
    election.field_evaluate(field=FIELD)
    source = latest_source()
    cell = base.forecasts[0].cell_id
    origin = _arrived_origin(source, cell)
    settings.MONITORING_INTERVAL_SECONDS = source.now() - origin + 60  # the forecast falls in the last interval
    monitors.field_monitor_make_due(fields=[FIELD])
    actual = np.array([_actual(source, cell, origin + k * WS) for k in range(3)])

    def store(errors: np.ndarray) -> None:
        get_store().write(replace(base, forecasts=[CellForecast(cell, origin, 0, actual + errors)]))
    return store


def test_the_monitor_judges_the_realised_score_by_the_rule(monitored, settings):
    from performance import degradation, monitoring
    from performance.models import MonitorEvent, ScoreRecord
    from registry.models import FieldBest

    errors = np.array([30.0, -40.0, 50.0])
    monitored(errors)
    best = FieldBest.objects.get(field=FIELD)
    rule = degradation.of(best)
    score = float(np.sqrt(np.mean(errors ** 2)))
    assert rule.status(score) == degradation.Status.DEGRADED  # the rule, applied to the hand-computed score
    outcome = monitoring.tick(only=[FIELD])[0]
    assert outcome.action.startswith("degraded: retraining")
    check = MonitorEvent.objects.get(kind="check")
    assert check.score == pytest.approx(score) and check.threshold == pytest.approx(rule.threshold)
    assert "realised rmse over 3 stored forecasts" in check.reason
    assert not ScoreRecord.objects.filter(trigger="auto_monitor").exists()  # no backtest was run


def test_a_small_realised_error_is_ok(monitored):
    from performance import monitoring

    monitored(np.array([0.0, 0.0, 0.0]) + 1e-3)
    assert monitoring.tick(only=[FIELD])[0].action == "ok"


def test_too_few_realised_forecasts_fall_back_to_the_backtest(monitored, settings):
    from performance import monitoring
    from performance.models import MonitorEvent, ScoreRecord

    settings.MONITORING_REALISED_MIN_COUNT = 10
    monitored(np.array([30.0, -40.0, 50.0]))
    assert monitoring.tick(only=[FIELD])[0].action == "ok"  # the backtest of the best is fine
    check = MonitorEvent.objects.get(kind="check")
    assert "3 realised forecasts" in check.reason and "fewer than 10: backtest" in check.reason
    assert ScoreRecord.objects.filter(trigger="auto_monitor").count() == 1


def test_a_store_that_is_down_falls_back_to_the_backtest(monitored, monkeypatch):
    from inference.forecast_store import ClickHouseStore
    from performance import monitoring
    from performance.models import MonitorEvent

    # A real store with nothing behind it (the discard port), while the telemetry stays the bundled data.
    monkeypatch.setattr(realised, "get_store", lambda: ClickHouseStore("http://127.0.0.1:9/", "cellwise_test.x", 0))
    assert monitoring.tick(only=[FIELD])[0].action == "ok"
    reason = MonitorEvent.objects.get(kind="check").reason
    assert "realised score unavailable" in reason and "ClickHouse" in reason and reason.endswith("backtest)")
