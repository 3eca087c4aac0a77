"""Readiness over a whole network and the latest-windows cache, against real components: a
10,000-cell synthetic network in ClickHouse (chdb), the Data Storage test server (a real HTTP
server whose requests are counted) and private redis-servers. Time is moved by setting
`latest_cache.clock` (the wall clock windows close on), never by waiting a window out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache as django_cache

from inference import readiness as readiness_module
from inference.forecasting import usable_tail
from inference.readiness import cell_readiness
from telemetry import latest_cache
from telemetry.clickhouse import get_client
from telemetry.data_storage import DataStorageSource
from telemetry.frame import WindowFrame
from telemetry.sources import latest_source
from tests.factories import known_version
from tests.integration.redis_server import RedisServer
from tests.synthetic import clickhouse as synthetic_clickhouse
from tests.synthetic.data_storage import DataStorageServer, NetworkStore
from tests.synthetic.network import SyntheticNetwork

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
INPUTS, OUTPUTS, LOOKBACK = ["sinr_mean", "rsrp_mean"], ["sinr_mean"], 12
BIG = SyntheticNetwork(cells=10_000, silent_cells=3, days=0.03, seed=5, missing_rate=0.02, nan_rate=0.01,
                       empty_rate=0.005, outages_per_day=3)
HOURLY = SyntheticNetwork(cells=40, window_seconds=3600, days=1, seed=8, missing_rate=0.03, nan_rate=0.02)


def reference_tail(network: SyntheticNetwork, cell: int, count: int = LOOKBACK) -> int:
    """The per-cell rule as the forecast first wrote it (a loop from the newest window), applied
    to the generator's own rows: independent of the reads and of the vectorised rule."""
    rows = network.cell(cell)
    frame = WindowFrame.build(cell_index=cell, window_seconds=network.window_seconds, fields=network.fields,
                              start=rows.start, end=rows.end, values=rows.values,
                              sample_count=rows.sample_count).tail(count)
    ok = (np.isfinite(frame.select(INPUTS).values).all(axis=1) & np.isfinite(frame.select(OUTPUTS).values).all(axis=1))
    tail = 0
    for i in range(len(frame) - 1, -1, -1):
        if not ok[i]:
            break
        tail += 1
        if frame.gap_before[i]:
            break
    return tail


@pytest.fixture(scope="module")
def big_tables(clickhouse_dsn):
    return synthetic_clickhouse.load(get_client(clickhouse_dsn), BIG, database="readiness", chunk_cells=2000,
                                     with_map=False)


@pytest.fixture
def on_clickhouse(settings, clickhouse_dsn, big_tables, make_model):
    model = make_model(input_fields=INPUTS, output_fields=OUTPUTS, window_duration_seconds=60,
                       lookback_steps=LOOKBACK, forecast_steps=2)  # fields checked on the bundled data
    known_version(model)
    settings.CLICKHOUSE_DSN, settings.CLICKHOUSE_SCHEMA, settings.CLICKHOUSE_TABLE = (
        clickhouse_dsn, "wide", big_tables.wide)
    return model


def generator_frame(network: SyntheticNetwork, cell: int, count: int = LOOKBACK) -> WindowFrame:
    rows = network.cell(cell)
    return WindowFrame.build(cell_index=cell, window_seconds=network.window_seconds, fields=network.fields,
                             start=rows.start, end=rows.end, values=rows.values,
                             sample_count=rows.sample_count).tail(count)


def test_readiness_with_short_gaps_filled_agrees_with_the_forecasts_rule(on_clickhouse, settings):
    """With filling on (the default), every cell's answer is `usable_tail` of the generator's own
    rows: more cells are ready than without it, none fewer."""
    assert settings.MAX_FILLED_WINDOWS > 0
    readiness = cell_readiness(output_field="sinr_mean", model_id=on_clickhouse.id)
    got = dict(zip(readiness.cell_ids.tolist(), readiness.complete.tolist(), strict=True))
    want = {}
    for c in got:
        frame = generator_frame(BIG, c)
        want[c] = usable_tail(frame, INPUTS, OUTPUTS, limit=len(frame)).complete
    assert got == want
    assert all(want[c] >= reference_tail(BIG, c) for c in list(want)[:2000])
    assert sum(v > reference_tail(BIG, c) for c, v in list(want.items())[:2000]) > 0  # filling bridged some


def test_readiness_over_every_cell_agrees_with_the_per_cell_rule(on_clickhouse, settings):
    settings.MAX_FILLED_WINDOWS = 0  # the vectorised rule alone, against an independent loop
    readiness = cell_readiness(output_field="sinr_mean", model_id=on_clickhouse.id)
    listed = latest_source().cells()  # ClickHouse lists the cells that have rows
    assert len(listed) > 9_950
    assert readiness.total_cells == readiness.scanned == len(listed) and readiness.unchecked == []  # no cut-off
    got = dict(zip(readiness.cell_ids.tolist(), readiness.complete.tolist(), strict=True))
    want = {int(c): reference_tail(BIG, int(c)) for c in listed}
    assert got == want
    ready = sum(v >= LOOKBACK for v in want.values())
    assert 0.4 * len(want) < ready < 0.95 * len(want)  # both kinds are there in number
    assert readiness.ready_count == ready
    order = [(not v >= LOOKBACK, -v, c) for c, v in got.items()]
    assert order == sorted(order)  # ready first, then most complete windows, then cell id


def test_readiness_api_is_paged_and_searchable_at_10000_cells(api, on_clickhouse):
    params = dict(output_field="sinr_mean", model_id=str(on_clickhouse.id))
    first = api.get("/inference/cells", **params, limit=50).json()
    total = len(latest_source().cells())
    assert first["total_cells"] == first["scanned_cells"] == first["count"] == total > 9_950
    assert len(first["cells"]) == 50 and all(c["ready"] and c["checked"] for c in first["cells"])
    later = api.get("/inference/cells", **params, limit=50, offset=total - 13).json()
    assert len(later["cells"]) == 13 and not any(c["ready"] for c in later["cells"])
    assert later["valid_until"] == first["valid_until"]

    search = api.get("/inference/cells", **params, q="777", limit=500).json()
    ids = [c for c in latest_source().cells() if "777" in str(c)]
    assert search["count"] == len(ids) > 10 and sorted(c["cell_id"] for c in search["cells"]) == sorted(ids)
    ready_only = api.get("/inference/cells", **params, ready=True, limit=1).json()
    assert ready_only["count"] == first["ready_count"]
    not_ready = api.get("/inference/cells", **params, ready=False, limit=500).json()
    assert not_ready["count"] == total - first["ready_count"] and not any(c["ready"] for c in not_ready["cells"])
    assert api.get("/inference/cells", **params, q="12a").status_code == 422
    assert api.get("/inference/cells", **params, limit=501).status_code == 422


def test_the_forecast_page_offers_a_search_box_at_10000_cells(user, on_clickhouse):
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    page = browser.get("/forecast/", {"field": "sinr_mean", "model": str(on_clickhouse.id)}).content.decode()
    assert 'list="cell-options"' in page and page.count("<option") < 100  # not 10,000 options
    readiness = cell_readiness(output_field="sinr_mean", model_id=on_clickhouse.id)
    assert f"{readiness.ready_count} of {readiness.total_cells} cells ready" in page
    typed = str(BIG.listed_cells()[1234])[:5]
    options = browser.get("/forecast/cells/", {"field": "sinr_mean", "model": str(on_clickhouse.id),
                                               "cell": typed}).content.decode()
    values = [int(v) for v in re.findall(r'value="(\d+)"', options)]
    assert 0 < len(values) <= 20 and all(typed in str(v) for v in values)
    first = values[0]
    assert f'value="{first}">{first}: ready' in options  # ready cells come first


@pytest.fixture
def hourly_server():
    # 20 ms a request, as the upstream has: requests in flight overlap however fast this machine is.
    server = DataStorageServer(NetworkStore(HOURLY), era="B", latency=0.02)
    yield server
    server.stop()


def data_requests(server) -> int:
    return sum(1 for path, _, _ in server.requests if path == server.prefix)


@pytest.fixture
def on_data_storage(settings, hourly_server, make_model, monkeypatch):
    model = make_model(input_fields=INPUTS, output_fields=OUTPUTS, window_duration_seconds=3600,
                       lookback_steps=6, forecast_steps=1)
    known_version(model, offset=1.0)
    settings.DATA_STORAGE_API_URL = hourly_server.url
    settings.LATEST_WINDOWS_CACHE_LAG_SECONDS = 5
    now = {"t": (int(latest_cache.clock()) // 3600) * 3600 + 600.0}  # 10 minutes into an hour
    monkeypatch.setattr(latest_cache, "clock", lambda: now["t"])
    return model, now


def test_readiness_is_cached_until_the_window_closes(on_data_storage, hourly_server):
    model, now = on_data_storage
    first = cell_readiness(output_field="sinr_mean", model_id=model.id)
    read = data_requests(hourly_server)  # a request per cell, two for a cell with an empty window
    assert first.scanned == first.total_cells == 40 and 40 <= read < 50
    now["t"] += 2950  # 59 minutes into the hour: the same window
    again = cell_readiness(output_field="sinr_mean", model_id=model.id)
    assert data_requests(hourly_server) == read and again.complete.tolist() == first.complete.tolist()
    now["t"] += 52  # the window closed 2 s ago, within the upstream's lag (5 s): still the same
    cell_readiness(output_field="sinr_mean", model_id=model.id)
    assert data_requests(hourly_server) == read
    now["t"] += 10  # past the close and the lag: read again
    cell_readiness(output_field="sinr_mean", model_id=model.id)
    assert data_requests(hourly_server) == 2 * read


def test_readiness_on_the_data_storage_api_keeps_a_budget(on_data_storage, hourly_server, settings):
    model, _ = on_data_storage
    settings.READINESS_BUDGET_SECONDS = 0  # time for the first chunk only: 4 x concurrency 8 cells
    partial = cell_readiness(output_field="sinr_mean", model_id=model.id)
    assert partial.scanned == 32 and len(partial.unchecked) == 8 and partial.total_cells == 40
    count, rows = partial.page(limit=100)
    assert count == 40 and [r.checked for r in rows] == [True] * 32 + [False] * 8
    assert hourly_server.max_in_flight > 1  # read concurrently
    assert readiness_module.CHUNK_CELLS == 10_000  # ClickHouse and bundled data: no budget (above)


def ready_hourly_cell() -> int:
    return next(int(c) for c in HOURLY.cell_ids() if reference_tail(HOURLY, int(c), 6) >= 6)


def test_a_second_forecast_in_the_window_makes_no_upstream_call(api, on_data_storage, hourly_server):
    model, now = on_data_storage
    body = {"output_field": "sinr_mean", "cell_id": ready_hourly_cell(), "model_id": str(model.id)}
    first = api.post("/inference", body)
    assert first.status_code == 200, first.content
    assert data_requests(hourly_server) == 1
    now["t"] += 1800
    second = api.post("/inference", body)
    assert second.status_code == 200 and second.json() == first.json()
    assert data_requests(hourly_server) == 1  # the forward pass only
    now["t"] += 1210  # the window has closed (and the lag passed)
    assert api.post("/inference", body).status_code == 200
    assert data_requests(hourly_server) == 2


def test_the_cache_can_be_switched_off(api, on_data_storage, hourly_server, settings):
    model, _ = on_data_storage
    settings.LATEST_WINDOWS_CACHE = False
    body = {"output_field": "sinr_mean", "cell_id": ready_hourly_cell(), "model_id": str(model.id)}
    for _ in range(2):
        assert api.post("/inference", body).status_code == 200
    assert data_requests(hourly_server) == 2


def test_a_cache_that_is_down_costs_upstream_reads_only(on_data_storage, hourly_server, settings):
    from tests.integration.redis_server import free_port

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}  # nothing listens
    source = DataStorageSource(hourly_server.url)
    frame = latest_cache.latest_windows(source, cell_index=ready_hourly_cell(), window_seconds=3600, count=6,
                                        fields=INPUTS)
    assert len(frame) == 6 and data_requests(hourly_server) == 1


READ_IN_ANOTHER_PROCESS = """
import django, json, sys
django.setup()
from telemetry import latest_cache
from telemetry.data_storage import DataStorageSource
frame = latest_cache.latest_windows(DataStorageSource(sys.argv[1]), cell_index=int(sys.argv[2]),
                                    window_seconds=3600, count=6, fields=["sinr_mean", "rsrp_mean"])
print(json.dumps({"start": frame.start.tolist(), "sinr": [float(v) for v in frame.column("sinr_mean")]}))
"""


def test_processes_share_the_latest_windows_through_redis(tmp_path, hourly_server, settings):
    redis = RedisServer(tmp_path)
    try:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": redis.url}}
        cell = ready_hourly_cell()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlops_site.settings", "CACHE_URL":
               f"rediscache://127.0.0.1:{redis.port}/0", "LATEST_WINDOWS_CACHE_LAG_SECONDS": "5"}
        other = subprocess.run([sys.executable, "-c", READ_IN_ANOTHER_PROCESS, hourly_server.url, str(cell)],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stderr[-2000:]
        assert data_requests(hourly_server) == 1
        theirs = json.loads(other.stdout.strip().splitlines()[-1])
        frame = latest_cache.latest_windows(DataStorageSource(hourly_server.url), cell_index=cell,
                                            window_seconds=3600, count=6, fields=INPUTS)
        assert data_requests(hourly_server) == 1  # this process read what the other one stored
        assert frame.start.tolist() == theirs["start"] and frame.column("sinr_mean").tolist() == theirs["sinr"]
        django_cache.clear()
        latest_cache.latest_windows(DataStorageSource(hourly_server.url), cell_index=cell, window_seconds=3600,
                                    count=6, fields=INPUTS)
        assert data_requests(hourly_server) == 2
    finally:
        redis.stop()


@pytest.mark.django_db(transaction=True)  # the threads read the model through their own connections
def test_callers_asking_at_once_share_one_scan(make_model, monkeypatch):
    import threading

    from django.db import connection

    model = make_model(input_fields=INPUTS, output_fields=OUTPUTS, window_duration_seconds=10,
                       lookback_steps=LOOKBACK, forecast_steps=2)  # the bundled data
    known_version(model)
    scanning, scans = threading.Event(), []
    real = readiness_module.scan

    def slow_scan(*args, **kwargs):  # the real scan, held open until a second caller has asked
        scans.append(1)
        scanning.set()
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(readiness_module, "scan", slow_scan)
    answers = []

    def ask():
        try:
            answers.append(cell_readiness(output_field="sinr_mean", model_id=model.id))
        finally:
            connection.close()

    first = threading.Thread(target=ask)
    first.start()
    assert scanning.wait(10)
    others = [threading.Thread(target=ask) for _ in range(2)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(30)
    assert len(scans) == 1 and len(answers) == 3  # two waited for the first one's answer
    assert len({tuple(a.complete.tolist()) for a in answers}) == 1
