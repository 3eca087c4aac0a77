"""Many-cell reads on every source: the same windows, gaps and NaNs as the one-cell reads and as
an independent reference (the synthetic network's own rows; for the bundled data, windows
computed from the raw CSV), for cells with data, silent cells and unknown cells; chunked reads
hold one chunk at a time; the Data Storage API is read with bounded concurrency and per-request
retries. ClickHouse is the real engine (chdb); the Data Storage API a real HTTP server."""

from __future__ import annotations

import contextvars
import tracemalloc

import numpy as np
import pytest

from core.errors import DependencyDown
from telemetry.base import chunk_cells
from telemetry.clickhouse import ClickHouseSource, get_client
from telemetry.data_storage import DataStorageSource
from telemetry.embedded import FIELDS, EmbeddedSource
from telemetry.frame import WindowFrame
from tests.synthetic import clickhouse as synthetic_clickhouse
from tests.synthetic.data_storage import DataStorageServer, NetworkStore
from tests.synthetic.network import DAY, SyntheticNetwork
from tests.telemetry.test_embedded import BUNDLED, assert_frame_matches, expected_windows, raw_rows

NET = SyntheticNetwork(cells=12, silent_cells=2, days=0.5, seed=3, missing_rate=0.01, outages_per_day=4,
                       empty_rate=0.01, nan_rate=0.01, stats=("mean", "std"))
UNKNOWN = 4242
CELLS = [*NET.listed_cells().tolist(), UNKNOWN]
FIELDS_ASKED = ["sinr_mean", "rsrp_mean", "cqi_std"]
SPAN = dict(start=NET.start + 3600 + 30, end=NET.end - 1800)  # not on window edges


def reference(cell: int, fields=FIELDS_ASKED) -> WindowFrame:
    rows = NET.cell(cell)
    return WindowFrame.build(cell_index=cell, window_seconds=NET.window_seconds, fields=NET.fields, start=rows.start,
                             end=rows.end, values=rows.values, sample_count=rows.sample_count).select(fields)


def assert_same(got: WindowFrame, want: WindowFrame):
    assert got.cell_index == want.cell_index
    assert got.start.tolist() == want.start.tolist()
    assert got.end.tolist() == want.end.tolist()
    assert got.sample_count.tolist() == want.sample_count.tolist()
    assert got.gap_before.tolist() == want.gap_before.tolist()
    np.testing.assert_array_equal(got.values, want.values)  # NaN where NaN, never 0


def assert_agrees_with_reference(source, *, now: int, count: int = 40):
    batch = source.windows_many(cells=CELLS, window_seconds=60, fields=FIELDS_ASKED, **SPAN)
    latest = source.latest_windows_many(cells=CELLS, window_seconds=60, count=count, fields=FIELDS_ASKED)
    assert batch.cells.tolist() == sorted(CELLS) == latest.cells.tolist()
    for cell in CELLS:
        want = reference(cell).between(SPAN["start"], SPAN["end"])
        assert_same(batch.frame(cell), want)
        assert_same(source.windows(cell_index=cell, window_seconds=60, fields=FIELDS_ASKED, **SPAN), want)
        want_latest = reference(cell).between(0, now).tail(count)
        assert_same(latest.frame(cell), want_latest)
        assert_same(source.latest_windows(cell_index=cell, window_seconds=60, count=count, fields=FIELDS_ASKED),
                    want_latest)
    data_cells = NET.cell_ids().tolist()
    assert all(len(batch.frame(c)) > 200 for c in data_cells)  # the comparison was not over nothing
    assert sum(batch.frame(c).gap_before.sum() > 1 for c in data_cells) >= 6  # gaps inside the span
    assert np.isnan(batch.values).any()  # missing values are in there
    chunks = list(source.windows_chunks(cells=CELLS, window_seconds=60, fields=FIELDS_ASKED, chunk_size=4,
                                        **SPAN))
    assert [c.cells.tolist() for c in chunks] == [sorted(CELLS)[i:i + 4] for i in range(0, len(CELLS), 4)]
    for chunk in chunks:
        for frame in chunk.frames():
            assert_same(frame, batch.frame(frame.cell_index))
    return batch


@pytest.fixture(scope="module")
def tables(clickhouse_dsn):
    return synthetic_clickhouse.load(get_client(clickhouse_dsn), NET, database="multicell", chunk_cells=5)


@pytest.mark.parametrize("schema", ["wide", "map"])
def test_clickhouse_many_cells_agree(clickhouse_dsn, tables, schema):
    source = ClickHouseSource(clickhouse_dsn, schema=schema, table=tables.wide if schema == "wide" else tables.map)
    source.now = lambda: NET.end  # live: the latest windows lie in the first, time-bounded pass
    assert_agrees_with_reference(source, now=NET.end)
    source.now = lambda: NET.end + 30 * DAY  # the network went silent: every cell needs the second pass
    assert_agrees_with_reference(source, now=NET.end + 30 * DAY, count=7)


@pytest.fixture(params=["A", "B"])
def storage(request):
    server = DataStorageServer(NetworkStore(NET), era=request.param)
    yield server
    server.stop()


def storage_source(server, **options) -> DataStorageSource:
    endpoint = server.prefix
    source = DataStorageSource(server.url, data_endpoint=endpoint, example_endpoint=f"{endpoint}/example",
                               backoff_seconds=0.01, **options)
    source.now = lambda: NET.end
    return source


def test_data_storage_many_cells_agree(storage):
    source = storage_source(storage, concurrency=4)
    batch = assert_agrees_with_reference(source, now=NET.end)
    assert source.cells() == sorted(NET.listed_cells().tolist())
    serial = storage_source(storage, concurrency=1).windows_many(cells=CELLS, window_seconds=60,
                                                                 fields=FIELDS_ASKED, **SPAN)
    for frame in serial.frames():
        assert_same(frame, batch.frame(frame.cell_index))


def test_data_storage_concurrency_is_bounded_and_each_request_is_retried(storage):
    storage.latency = 0.2
    source = storage_source(storage, concurrency=3, retries=3)
    storage.fail_next = [500, 503, 500]  # three requests fail once each, whichever they are
    latest = source.latest_windows_many(cells=CELLS, window_seconds=60, count=5, fields=FIELDS_ASKED)
    assert 2 <= storage.max_in_flight <= 3
    assert len(storage.requests) == len(CELLS) + 3  # one page per cell, plus the three retried
    for cell in CELLS:
        assert_same(latest.frame(cell), reference(cell).tail(5))

    storage.latency = 0
    storage.fail_next = [500] * 1000
    with pytest.raises(DependencyDown) as error:
        storage_source(storage, concurrency=3, retries=1).windows_many(cells=CELLS, window_seconds=60,
                                                                       fields=FIELDS_ASKED, **SPAN)
    assert error.value.dependency == "Data Storage API"


def test_concurrent_reads_run_in_the_callers_context(storage):
    """Context variables (the retry profile, the log's job id) reach the request threads."""
    marker = contextvars.ContextVar("marker", default="unset")
    source = storage_source(storage, concurrency=4)
    seen, fetch = [], source.fetch_rows

    def observed(**kwargs):
        seen.append(marker.get())
        return fetch(**kwargs)

    source.fetch_rows = observed
    marker.set("the caller's")
    source.latest_windows_many(cells=CELLS, window_seconds=60, count=3, fields=FIELDS_ASKED)
    assert seen == ["the caller's"] * len(CELLS)


def test_concurrency_comes_from_the_settings(settings, storage):
    from telemetry.sources import history_source

    settings.TELEMETRY_SOURCE, settings.DATA_STORAGE_API_URL = "data_storage", storage.url
    settings.DATA_STORAGE_CONCURRENCY = 5
    assert history_source().concurrency == 5


def test_bundled_data_many_cells_agree_with_the_raw_csv(imported_source):
    cells = [*imported_source.cells(), UNKNOWN]
    now = imported_source.now()
    batch = imported_source.windows_many(cells=cells, window_seconds=60, start=0, end=now, fields=FIELDS)
    for cell in ("10805003", "10946828"):
        assert_frame_matches(batch.frame(int(cell)), expected_windows(list(raw_rows(cell)), 60))
    assert len(batch.frame(UNKNOWN)) == 0
    bundled = EmbeddedSource([BUNDLED])
    cells = [*bundled.cells(), UNKNOWN]
    many = bundled.windows_many(cells=cells, window_seconds=10, start=0, end=bundled.now(), fields=["sinr_mean"])
    latest = bundled.latest_windows_many(cells=cells, window_seconds=10, count=12, fields=["sinr_mean"])
    assert many.window_count > 10_000
    for cell in cells:
        alone = bundled.windows(cell_index=cell, window_seconds=10, start=0, end=bundled.now(), fields=["sinr_mean"])
        assert_same(many.frame(cell), alone)
        assert_same(latest.frame(cell), alone.tail(12))


def test_chunks_are_read_one_at_a_time(clickhouse_dsn, tables):
    """The chunked read is lazy (the next chunk is read only when asked for) and holds one chunk:
    its peak memory is a fraction of reading every cell at once."""
    source = ClickHouseSource(clickhouse_dsn, schema="wide", table=tables.wide)
    asked = []
    read_chunk = source._windows_chunk

    def recording(**kwargs):
        asked.append(kwargs["cells"].tolist())
        return read_chunk(**kwargs)

    source._windows_chunk = recording
    kwargs = dict(cells=CELLS, window_seconds=60, start=NET.start, end=NET.end, fields=list(NET.fields))
    chunks = source.windows_chunks(**kwargs, chunk_size=3)
    assert asked == []
    first = next(chunks)
    assert asked == [first.cells.tolist()] and len(first.cells) == 3
    assert sum(len(c.cells) for c in chunks) == len(CELLS) - 3 and len(asked) == 5

    def peak(read) -> int:
        tracemalloc.start()
        read()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    whole = peak(lambda: source.windows_many(**kwargs))
    one_by_one = peak(lambda: [c.window_count for c in source.windows_chunks(**kwargs, chunk_size=1)])
    kept = peak(lambda: list(source.windows_chunks(**kwargs, chunk_size=1)))
    assert one_by_one < 0.35 * min(whole, kept), (one_by_one, whole, kept)  # measured: 0.2
    assert chunk_cells(2 * 1440) == 347 and chunk_cells(1) == 1000 and chunk_cells(10**9) == 1
