"""ClickHouseSource against the real ClickHouse engine (chdb via clickhouse-connect's chdb://
DSN; production uses http://). Both table shapes: era A wide columns, era B metrics map."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from core.errors import DependencyDown
from telemetry.clickhouse import ClickHouseSource, get_client

T0 = 1_706_745_600
CELL = 12898855


@pytest.fixture(scope="module")
def tables(clickhouse_dsn):
    ch = get_client(clickhouse_dsn)
    ch.command("CREATE DATABASE IF NOT EXISTS analytics")
    for table in ("processed_latency", "processed"):
        ch.command(f"DROP TABLE IF EXISTS analytics.{table}")
    common = ("window_start_time DateTime64(3, 'UTC'), window_end_time DateTime64(3, 'UTC'), "
              "window_duration_seconds Float64, cell_index Int32, network String")
    ch.command(f"CREATE TABLE analytics.processed_latency ({common}, rsrp_mean Nullable(Float64), "
               "rsrp_std Nullable(Float64), sinr_mean Nullable(Float64), sample_count Int32) "
               "ENGINE = MergeTree ORDER BY (cell_index, window_start_time)")
    ch.command(f"CREATE TABLE analytics.processed ({common}, ip_src Nullable(String), "
               "metrics Map(String, Float64), sample_count Int32) "
               "ENGINE = MergeTree ORDER BY (cell_index, window_start_time)")
    wide, mapped = [], []
    for i in range(200):
        if i == 50:
            continue  # a missing window: a gap
        start = datetime.fromtimestamp(T0 + 60 * i, UTC)
        end = datetime.fromtimestamp(T0 + 60 * i + 60, UTC)
        count = 0 if i == 120 else 60  # an empty window: a gap
        sinr = None if i == 7 else 10.0 + i % 3
        wide.append([start, end, 60.0, CELL, "5G", -80.0 - i % 5, 1.0, sinr, count])
        metrics = {"rsrp_mean": -80.0 - i % 5, "rsrp_std": 1.0}
        if sinr is not None:
            metrics["sinr_mean"] = sinr
        mapped.append([start, end, 60.0, CELL, "5G", None, metrics, count])
    other = [datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 300, UTC), 300.0, 42, "LTE"]
    ch.insert("analytics.processed_latency", wide + [other + [-90.0, 1.0, 5.0, 10]],
              column_names=["window_start_time", "window_end_time", "window_duration_seconds", "cell_index",
                            "network", "rsrp_mean", "rsrp_std", "sinr_mean", "sample_count"])
    ch.insert("analytics.processed", mapped + [other + [None, {"rsrp_mean": -90.0}, 10]],
              column_names=["window_start_time", "window_end_time", "window_duration_seconds", "cell_index",
                            "network", "ip_src", "metrics", "sample_count"])
    return clickhouse_dsn


@pytest.mark.parametrize("schema", ["wide", "map"])
def test_windows_in_a_time_range(tables, schema):
    source = ClickHouseSource(tables, schema=schema)
    frame = source.windows(cell_index=CELL, window_seconds=60, start=T0 + 60, end=T0 + 60 * 130,
                           fields=["rsrp_mean", "sinr_mean"])
    assert frame.start[0] == T0 + 60 and frame.end[-1] == T0 + 60 * 130
    assert len(frame) == 129 - 2  # minus the missing and the empty window
    assert frame.gap_before.sum() == 3
    sinr = frame.column("sinr_mean")
    assert math.isnan(sinr[frame.start.tolist().index(T0 + 7 * 60)])  # NULL / missing key is NaN, never 0
    assert frame.column("rsrp_mean")[0] == -81.0


@pytest.mark.parametrize("schema", ["wide", "map"])
def test_latest_windows_columns_and_cells(tables, schema):
    source = ClickHouseSource(tables, schema=schema)
    latest = source.latest_windows(cell_index=CELL, window_seconds=60, count=10, fields=["rsrp_mean"])
    assert latest.start.tolist() == [T0 + 60 * i for i in range(190, 200)]
    assert source.cells() == [42, CELL]
    assert {"rsrp_mean", "sinr_mean", "sample_count"} <= set(source.columns())
    five_minute = source.windows(cell_index=42, window_seconds=300, start=0, end=T0 + 300, fields=["rsrp_mean"])
    assert five_minute.column("rsrp_mean").tolist() == [-90.0]


def test_an_unknown_table_is_a_dependency_error(tables):
    with pytest.raises(DependencyDown) as error:
        ClickHouseSource(tables, schema="wide", table="analytics.nope").cells()
    assert error.value.dependency == "ClickHouse"


@pytest.mark.django_db
def test_a_hung_server_is_down_within_the_read_timeout_not_the_drivers_300_s(settings, api, make_model):
    """A real TCP listener that accepts and never answers stands in for a ClickHouse whose disks stalled."""
    import time

    from tests.factories import known_version
    from tests.integration.silent_server import SilentServer

    settings.CLICKHOUSE_READ_TIMEOUT_SECONDS = 1.5
    silent = SilentServer()
    try:
        dsn = silent.url.replace("http://", "http://default@") + "/default"
        began = time.monotonic()
        with pytest.raises(DependencyDown) as down:
            ClickHouseSource(dsn, schema="wide", table="analytics.processed_latency").latest_windows(
                cell_index=CELL, window_seconds=60, count=5, fields=["sinr_mean"])
        assert time.monotonic() - began < 1.5 * 3 + 2, "bounded by the read timeout (the driver retries once)"
        assert down.value.dependency == "ClickHouse" and "timed out" in str(down.value)

        model = make_model(input_fields=["sinr_mean"], output_fields=["sinr_mean"], window_duration_seconds=10,
                           lookback_steps=4, forecast_steps=1)
        known_version(model)
        settings.CLICKHOUSE_DSN, settings.CLICKHOUSE_SCHEMA = dsn, "wide"
        began = time.monotonic()
        answer = api.post("/inference", {"output_field": "sinr_mean", "cell_id": CELL, "model_id": str(model.id)})
        assert answer.status_code == 503 and "ClickHouse" in answer.json()["detail"], answer.content
        assert time.monotonic() - began < 1.5 * 3 + 2
        # Three calls in a row failed (BREAKER_FAILURES): the next request fails at once, naming why.
        for _ in range(settings.BREAKER_FAILURES - 2):
            api.post("/inference", {"output_field": "sinr_mean", "cell_id": CELL, "model_id": str(model.id)})
        began = time.monotonic()
        fast = api.post("/inference", {"output_field": "sinr_mean", "cell_id": CELL, "model_id": str(model.id)})
        assert fast.status_code == 503 and "known to be down" in fast.json()["detail"], fast.content
        assert time.monotonic() - began < 0.5
    finally:
        silent.stop()
