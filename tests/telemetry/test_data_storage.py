"""DataStorageSource against a real HTTP server speaking both eras of the contract."""

from __future__ import annotations

import math
import socket
import time

import pytest

from core.errors import DependencyDown, UpstreamRejected
from telemetry.data_storage import DataStorageSource, to_epoch
from tests.telemetry.fake_data_storage import FakeDataStorage

T0 = 1_706_745_600  # 2024-02-01T00:00:00Z


def make_rows(count: int, *, cell: int = 12898855, width: int = 60, skip=(), empty=(), missing_sinr=()):
    rows = []
    for i in range(count):
        if i in skip:
            continue
        start = T0 + i * width
        rows.append({
            "window_start_time": start, "window_end_time": start + width, "window_duration_seconds": width,
            "cell_index": cell, "network": "5G", "rsrp_mean": -80.0 - i % 7, "rsrp_std": 1.5,
            "sinr_mean": None if i in missing_sinr else 10.0 + i % 5, "sample_count": 0 if i in empty else 60,
            "rsrp_samples": 60.0,
        })
    return rows


@pytest.fixture
def server_factory():
    servers = []

    def make(rows, era="A", **kwargs):
        server = FakeDataStorage(rows, era=era, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def client(server, **kwargs) -> DataStorageSource:
    options = dict(backoff_seconds=0.01)
    options.update(kwargs)
    return DataStorageSource(server.url + "/", **options)


@pytest.mark.parametrize("era", ["A", "B"])
def test_pages_over_more_than_1000_rows_and_sorts_ascending(server_factory, era):
    server = server_factory(make_rows(2500, skip={100}, empty={200}, missing_sinr={300}), era=era)
    frame = client(server).windows(cell_index=12898855, window_seconds=60, start=T0, end=T0 + 2500 * 60,
                                   fields=["rsrp_mean", "sinr_mean"])
    pages = [p for path, p, _ in server.requests if path == "/api/v1/processed"]
    assert [int(p["offset"]) for p in pages] == [0, 1000, 2000] and {p["limit"] for p in pages} == {"1000"}
    assert "ip_src" not in pages[0]
    assert len(frame) == 2498  # one window missing, one empty
    assert (frame.start[1:] > frame.start[:-1]).all()
    assert frame.start[0] == T0 and frame.end[-1] == T0 + 2500 * 60
    assert frame.gap_before.sum() == 3  # the start, the missing window and the empty one
    sinr = frame.column("sinr_mean")
    assert math.isnan(sinr[frame.start.tolist().index(T0 + 300 * 60)])  # null / missing key -> NaN, not 0
    assert frame.column("rsrp_mean")[0] == -80.0


def test_iso_and_int_timestamps():
    assert to_epoch(1706745600) == to_epoch("1706745600") == to_epoch("2024-02-01T00:00:00") == T0
    assert to_epoch("2024-02-01T01:00:00+01:00") == T0
    assert to_epoch("2024-02-01T00:00:00Z") == T0


def test_field_discovery_cells_and_headers(server_factory):
    server = server_factory(make_rows(3), era="B")
    source = client(server, component_id="cellwise-test", token="s3cret",
                    example_endpoint="/api/v1/processed/example")
    assert "rsrp_mean" in source.columns() and "window_start_time" in source.columns()
    assert source.cells() == [999, 12898855]
    headers = server.requests[-1][2]
    assert headers["X-Component-ID"] == "cellwise-test" and headers["Authorization"] == "Bearer s3cret"


def test_no_auth_headers_unless_configured(server_factory):
    server = server_factory(make_rows(3))
    client(server).cells()
    headers = server.requests[-1][2]
    assert "X-Component-ID" not in headers and "Authorization" not in headers


def test_a_500_is_retried_then_succeeds(server_factory):
    server = server_factory(make_rows(10))
    server.fail_next = [500, 503]
    frame = client(server, retries=3).windows(cell_index=12898855, window_seconds=60, start=T0, end=T0 + 600,
                                              fields=["rsrp_mean"])
    assert len(frame) == 10 and len(server.requests) == 3


def test_persistent_500_is_a_clear_dependency_error(server_factory):
    server = server_factory(make_rows(10))
    server.fail_next = [500] * 10
    with pytest.raises(DependencyDown) as error:
        client(server, retries=2).cells()
    assert "Data Storage API is unavailable" in str(error.value) and "after 3 attempts" in str(error.value)
    assert len(server.requests) == 3


def test_a_4xx_is_not_retried(server_factory):
    server = server_factory(make_rows(10))
    server.fail_next = [422, 422]
    with pytest.raises(UpstreamRejected) as error:
        client(server, retries=3).cells()
    assert "HTTP 422" in str(error.value)
    assert len(server.requests) == 1


def test_a_dead_server_fails_fast_with_its_name():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    source = DataStorageSource(f"http://127.0.0.1:{port}", retries=2, backoff_seconds=0.01)
    began = time.monotonic()
    with pytest.raises(DependencyDown) as error:
        source.windows(cell_index=1, window_seconds=60, start=0, end=10, fields=["rsrp_mean"])
    assert time.monotonic() - began < 5
    assert error.value.dependency == "Data Storage API" and "cannot connect" in str(error.value)


def test_latest_windows_reads_only_the_newest_page(server_factory):
    server = server_factory(make_rows(2500))
    source = client(server)
    source.now = lambda: T0 + 2500 * 60
    frame = source.latest_windows(cell_index=12898855, window_seconds=60, count=24, fields=["rsrp_mean"])
    assert len(frame) == 24 and frame.end[-1] == T0 + 2500 * 60
    data_requests = [p for path, p, _ in server.requests if path == "/api/v1/processed"]
    assert len(data_requests) == 1 and data_requests[0]["limit"] == "24"


def test_latest_windows_pages_on_past_empty_windows(server_factory):
    server = server_factory(make_rows(50, empty={47, 48}, skip={45}))
    source = client(server, page_size=1000)
    source.now = lambda: T0 + 50 * 60
    frame = source.latest_windows(cell_index=12898855, window_seconds=60, count=5, fields=["rsrp_mean"])
    assert frame.start.tolist() == [T0 + i * 60 for i in (42, 43, 44, 46, 49)]  # empty ones are not windows
    assert frame.gap_before.tolist() == [True, False, False, True, True]
    limits = [p["limit"] for path, p, _ in server.requests if path == "/api/v1/processed"]
    assert limits == ["5", "2"]  # the first page had two empty windows: two more were asked for
