"""The Data Storage test server keeps the contract's rules (both eras), its latency, and runs as a
separate process for benchmarks."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.synthetic.data_storage import DataStorageServer, NetworkStore, ServerProcess
from tests.synthetic.network import SyntheticNetwork

NET = SyntheticNetwork(cells=5, silent_cells=1, days=1, seed=5, nan_rate=0.05)


@pytest.fixture
def server_for():
    servers = []

    def start(era: str, **options) -> DataStorageServer:
        servers.append(DataStorageServer(NetworkStore(NET), era=era, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def data(server, **params):
    query = dict(start_time=NET.start, end_time=NET.end, cell_index=int(NET.cell_ids()[0]),
                 window_duration_seconds=60)
    query.update(params)
    return httpx.get(f"{server.url}{server.prefix}", params={k: v for k, v in query.items() if v is not None})


@pytest.mark.parametrize("era", ["A", "B"])
def test_paging_rules(server_for, era):
    server = server_for(era)
    assert server.prefix == ("/api/v1/processed/latency" if era == "A" else "/api/v1/processed")
    rows = NET.cell(int(NET.cell_ids()[0]))
    first, second = data(server, limit=1000).json(), data(server, limit=1000, offset=1000).json()
    assert len(first) == 1000 and len(second) == len(rows) - 1000  # no total: a short page ends it
    times = [r["window_start_time"] for r in first + second]
    assert times == sorted(times, reverse=True)  # newest first
    assert data(server).status_code == 200 and len(data(server).json()) == 100  # default limit
    for bad in (dict(limit=1001), dict(limit=0), dict(offset=-1), dict(cell_index=None), dict(cell_index="x")):
        assert data(server, **bad).status_code == 422, bad
    assert data(server, cell_index=int(NET.listed_cells()[-1])).json() == []  # listed, silent
    assert data(server, window_duration_seconds=300).json() == []
    missing = [r for r in first if r["sample_count"] and (r.get("sinr_mean") is None)]
    if era == "A":
        assert isinstance(first[0]["window_start_time"], int)
        assert set(first[0]) == set(NetworkStore(NET).columns()) and missing  # fixed keys, null = missing
    else:
        assert first[0]["window_start_time"].count(":") == 2 and "+" not in first[0]["window_start_time"]
        assert missing and all("sinr_mean" not in r for r in missing)  # no key = no value
        assert data(server, ip_src="10.0.0.1").json() == []  # UE-level rows: none here
    example = httpx.get(f"{server.url}{server.prefix}/example").json()
    assert set(example[0]) >= {"window_start_time", "sample_count", "rsrp_mean"}
    cells = httpx.get(f"{server.url}/api/v1/cell").json()
    assert sorted(cells) == NET.listed_cells().tolist() and cells != sorted(cells)
    assert httpx.get(f"{server.url}/api/v1/nope").status_code == 404


def test_latency_is_per_request(server_for):
    server = server_for("B", latency=0.3)
    began = time.monotonic()
    assert data(server, limit=5).status_code == 200
    assert time.monotonic() - began >= 0.3


def test_runs_as_a_process_and_stops():
    with ServerProcess(cells=3, days=0.1, latency=0.0, era="A") as server:
        answer = httpx.get(f"{server.url}/api/v1/cell", timeout=10)
        assert answer.status_code == 200 and len(answer.json()) == 3
        process = server.process
    assert process.poll() is not None  # stopped: nothing left running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/api/v1/cell", timeout=2)


def test_random_faults_are_seeded_and_counted(server_for):
    server = server_for("A", fault_rate=0.5, seed=3)
    statuses = [data(server, limit=1).status_code for _ in range(40)]
    assert set(statuses) == {200, 500} and statuses.count(500) == server.faults
    again = server_for("A", fault_rate=0.5, seed=3)
    assert [data(again, limit=1).status_code for _ in range(40)] == statuses
