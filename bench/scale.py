"""Network scale: what reading, training and forecasting cost at thousands of cells, by section.

    ~/.cache/cellwise/venv/bin/python bench/scale.py [SECTION ...] [--cells 10000] [--days 2]

Every section runs against the same synthetic network (`tests/synthetic`: dense 60 s windows,
daily seasonality, gaps, outages), loaded into ClickHouse (chdb, in this process, both table
shapes) on first use and served by the Data Storage test server in its own process. Ratios are
against baselines measured in the same run; each time is the best of 2-3 runs (these machines
are shared and noisy).

Sections (add one: write `def name(bench) -> None` that calls `bench.report(...)`, list it in
SECTIONS):
- fetch: windows per second from ClickHouse over every cell; the latest N windows of every
  cell; the Data Storage API with per-request latency, serial vs concurrent.
- batch: a forecast of every cell from ClickHouse, end to end (read the latest windows, one
  forward pass per chunk, store in the ClickHouse forecast store), by stage, against the
  per-cell request path (`forecast_cell`, the code behind POST /v1/inference) in the same run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.synthetic.network import SyntheticNetwork  # noqa: E402


@dataclass
class Result:
    section: str
    name: str
    value: float
    unit: str
    goal: str = ""
    ok: bool | None = None


@dataclass
class Bench:
    network: SyntheticNetwork
    options: argparse.Namespace
    results: list[Result] = field(default_factory=list)
    section: str = ""

    def report(self, name: str, value: float, unit: str, goal: str = "", ok: bool | None = None) -> None:
        result = Result(self.section, name, value, unit, goal, ok)
        self.results.append(result)
        verdict = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(f"  {name:<62} {value:>12,.3f} {unit:<10} {goal}{verdict}", flush=True)

    folders: list[Path] = field(default_factory=list)

    @cached_property
    def chdb_dsn(self) -> str:
        folder = Path(tempfile.mkdtemp(prefix="cellwise-scale-chdb-"))
        self.folders.append(folder)
        return f"chdb://{folder}"

    @cached_property
    def tables(self):
        """The network in ClickHouse (loaded on first use, once per run)."""
        from telemetry.clickhouse import get_client
        from tests.synthetic import clickhouse as synthetic_clickhouse

        began = time.perf_counter()
        tables = synthetic_clickhouse.load(get_client(self.chdb_dsn), self.network)
        took = time.perf_counter() - began
        print(f"  (loaded {tables.rows:,} rows into chdb, both table shapes, in {took:.1f} s: "
              f"{tables.rows / took / 1e6:.2f} M rows/s)", flush=True)
        return tables

    def clickhouse(self, schema: str):
        from telemetry.clickhouse import ClickHouseSource

        return ClickHouseSource(self.chdb_dsn, schema=schema,
                                table=self.tables.wide if schema == "wide" else self.tables.map)

    def cleanup(self) -> None:
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)


def timed(call: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """The best wall time of `repeat` runs (the machine is shared: the best run is the least
    disturbed one) and the last run's value."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        value = call()
        best = min(best, time.perf_counter() - began)
    return best, value


def fetch(bench: Bench) -> None:
    """Reading the network: the Data Storage API (its server process starts before chdb is opened
    in this one), then ClickHouse in both table shapes."""
    fetch_data_storage(bench)
    for schema in ("wide", "map"):
        fetch_clickhouse(bench, schema)
    fetch_time_projection(bench)
    fetch_long_history(bench)


def fetch_data_storage(bench: Bench) -> None:
    """Serial against concurrent on the same cells, the server's per-cell cache warm for both (the
    test server renders a cell's JSON on first use; its own cost is the latency it is given).
    Two shapes of read: the latest windows (one small page per cell: latency-bound) and a span
    of history (pages of 1000 rows: the client's JSON decoding, under the GIL, bounds it)."""
    from telemetry.data_storage import DataStorageSource
    from tests.synthetic.data_storage import ServerProcess

    net, options = bench.network, bench.options
    cells, fields, count, latency = net.cell_ids(), list(net.fields), options.latest, options.latency_ms / 1000
    span = dict(window_seconds=net.window_seconds, start=net.start, end=net.end, fields=fields)
    latest = dict(window_seconds=net.window_seconds, count=count, fields=fields)
    sample = cells[:: max(1, len(cells) // options.ds_cells)][: options.ds_cells]
    with ServerProcess(cells=net.cells, days=net.days, window_seconds=net.window_seconds, seed=net.seed,
                       end=net.end, latency=latency) as server:
        def source(concurrency: int) -> DataStorageSource:
            return DataStorageSource(server.url, concurrency=concurrency)

        source(options.concurrency).latest_windows_many(cells=sample, **latest)  # warm the server
        serial, _ = timed(lambda: source(1).latest_windows_many(cells=sample, **latest), 2)
        concurrent, _ = timed(lambda: source(options.concurrency).latest_windows_many(cells=sample, **latest), 3)
        bench.report(f"Data Storage latest {count} of {len(sample)} cells (a request each, "
                     f"{options.latency_ms:g} ms), serial", serial / len(sample) * 1000, "ms/cell")
        bench.report(f"  concurrency {options.concurrency}", concurrent / len(sample) * 1000, "ms/cell")
        bench.report(f"  concurrency {options.concurrency} / serial", serial / concurrent, "x", "goal >= 5x",
                     serial / concurrent >= 5)
        per_request = serial / len(sample)

        few = sample[: max(1, len(sample) // 2)]
        source(options.concurrency).windows_many(cells=few, **span)  # warm the server
        serial, batch = timed(lambda: source(1).windows_many(cells=few, **span), 2)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        concurrent, again = timed(lambda: source(options.concurrency).windows_many(cells=few, **span), 3)
        used = resource.getrusage(resource.RUSAGE_SELF)
        assert again.window_count == batch.window_count
        pages = int(np.ceil(batch.counts / 1000).sum())
        client_cpu = (used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime) / (3 * pages)
        bench.report(f"Data Storage {net.days:g} days of {len(few)} cells ({pages} pages of <= 1000 rows), serial",
                     batch.window_count / serial, "windows/s")
        bench.report(f"  concurrency {options.concurrency}", batch.window_count / concurrent, "windows/s")
        bench.report(f"  concurrency {options.concurrency} / serial", serial / concurrent, "x",
                     f"(bound: ({options.latency_ms:g} + cpu) / cpu)")
        bench.report("  client CPU per page (JSON decoding, parsing), this process", client_cpu * 1000, "ms")
    # Every cell: a server over the same cells with a short history, so that generating each cell
    # on its first request (the test server's cost, on these same cores) stays small.
    with ServerProcess(cells=net.cells, days=min(net.days, 0.5),
                       window_seconds=net.window_seconds, seed=net.seed, end=net.end, latency=latency) as server:
        every, batch = timed(lambda: DataStorageSource(server.url, concurrency=options.concurrency)
                             .latest_windows_many(cells=cells, **latest))
    assert (batch.counts == count).mean() > 0.99
    bench.report(f"Data Storage latest {count} of every cell ({len(cells):,} cells), "
                 f"concurrency {options.concurrency}", every, "s")
    bench.report(f"  one cell at a time ({per_request * 1000:.1f} ms/cell measured) x {len(cells):,}",
                 per_request * len(cells), "s (extrap.)")
    bench.report("  ratio", per_request * len(cells) / every, "x")


def fetch_clickhouse(bench: Bench, schema: str) -> None:
    net, count = bench.network, bench.options.latest
    cells, fields = net.cell_ids(), list(net.fields)
    span = dict(window_seconds=net.window_seconds, start=net.start, end=net.end, fields=fields)
    latest = dict(window_seconds=net.window_seconds, count=count, fields=fields)
    clickhouse = bench.clickhouse(schema)
    few = cells[:: max(1, len(cells) // 50)][:50]

    took, windows = timed(lambda: sum(c.window_count for c in clickhouse.windows_chunks(cells=cells, **span)), 2)
    bench.report(f"ClickHouse ({schema}) every cell, {net.days:g} days, in chunks: {windows:,} windows",
                 windows / took / 1e6, "M windows/s", "goal >= 1 M/s", windows / took >= 1e6)
    if schema == "wide":
        tracemalloc.start()
        chunks = sum(1 for _ in clickhouse.windows_chunks(cells=cells, **span))
        held = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        whole = windows * (3 * 8 + 1 + 8 * len(fields))  # what one batch of every cell would hold
        bench.report(f"  memory: peak numpy/Python allocations over the {chunks} chunks", held / 2**20, "MB",
                     f"(one batch of every cell: {whole / 2**20:,.0f} MB)")
    one_by_one, frames = timed(lambda: [clickhouse.windows(cell_index=int(c), **span) for c in few], 2)
    per_cell_rate = sum(len(f) for f in frames) / one_by_one
    bench.report(f"  one query per cell ({len(few)} cells)", per_cell_rate / 1e6, "M windows/s")
    bench.report("  chunked / one query per cell", windows / took / per_cell_rate, "x")

    took, batch = timed(lambda: clickhouse.latest_windows_many(cells=cells, **latest), 2)
    assert (batch.counts == count).all()
    bench.report(f"ClickHouse ({schema}) latest {count} of every cell ({len(cells):,} cells)", took, "s")
    chunk = cells[:1000]
    bounded, _ = timed(lambda: clickhouse.latest_windows_many(cells=chunk, **latest), 2)
    unbounded, _ = timed(lambda: clickhouse._latest_query(chunk, net.window_seconds, count, fields,
                                                          np.dtype(np.float64)), 2)
    bench.report(f"  {len(chunk)} cells: unbounded LIMIT BY / as read (bounded by time)", unbounded / bounded, "x",
                 f"({unbounded:.3f} s vs {bounded:.3f} s)")
    one_by_one, _ = timed(lambda: [clickhouse.latest_windows(cell_index=int(c), **latest) for c in few], 2)
    one_by_one = one_by_one / len(few) * len(cells)
    bench.report(f"  one query per cell: measured on {len(few)}, x {len(cells):,}", one_by_one, "s (extrap.)")
    bench.report("  ratio", one_by_one / took, "x")


def fetch_time_projection(bench: Bench) -> None:
    """The latest windows of every cell when the table has a projection ordered by time: the
    bounded scan then reads only the recent rows instead of at least one granule per cell."""
    from telemetry.clickhouse import get_client

    net, count = bench.network, bench.options.latest
    cells, fields = net.cell_ids(), list(net.fields)
    clickhouse = bench.clickhouse("wide")
    client = get_client(bench.chdb_dsn)
    before, _ = timed(lambda: clickhouse.latest_windows_many(cells=cells, window_seconds=net.window_seconds,
                                                            count=count, fields=fields), 2)
    took, _ = timed(lambda: (
        client.command(f"ALTER TABLE {bench.tables.wide} ADD PROJECTION by_time "
                       "(SELECT * ORDER BY window_start_time, cell_index)"),
        client.command(f"ALTER TABLE {bench.tables.wide} MATERIALIZE PROJECTION by_time SETTINGS mutations_sync = 1"),
    ))
    after, batch = timed(lambda: clickhouse.latest_windows_many(cells=cells, window_seconds=net.window_seconds,
                                                               count=count, fields=fields), 2)
    assert (batch.counts == count).all()
    bench.report(f"ClickHouse (wide) latest {count} of every cell, with a projection ordered by time", after, "s",
                 f"(adding it took {took:.0f} s)")
    bench.report("  without / with the projection", before / after, "x", f"({before:.3f} s without)")


def fetch_long_history(bench: Bench) -> None:
    """The latest windows when cells keep a long history: the time bound skips the old granules."""
    from telemetry.clickhouse import ClickHouseSource, get_client
    from tests.synthetic import clickhouse as synthetic_clickhouse

    options, net = bench.options, bench.network
    long = SyntheticNetwork(cells=options.long_cells, days=options.long_days, window_seconds=net.window_seconds,
                            end=net.end)
    tables = synthetic_clickhouse.load(get_client(bench.chdb_dsn), long, database="synthetic_long", with_map=False)
    source = ClickHouseSource(bench.chdb_dsn, schema="wide", table=tables.wide)
    cells, fields, count = long.cell_ids(), list(long.fields), options.latest
    took, batch = timed(lambda: source.latest_windows_many(cells=cells, window_seconds=long.window_seconds,
                                                          count=count, fields=fields), 2)
    assert (batch.counts == count).all()
    unbounded, _ = timed(lambda: source._latest_query(cells, long.window_seconds, count, fields,
                                                      np.dtype(np.float64)), 2)
    bench.report(f"ClickHouse latest {count}, {len(cells)} cells with {long.days:g} days each ({tables.rows:,} rows)",
                 took, "s")
    bench.report("  unbounded LIMIT BY / as read (bounded by time)", unbounded / took, "x", f"({unbounded:.3f} s)")


def batch(bench: Bench) -> None:
    """Forecast every cell with one model (an LSTM by default: the heaviest forward pass), Django
    on SQLite in a temp folder, ClickHouse (chdb) as the source and the forecast store."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _setup import django_embedded

    net, options = bench.network, bench.options
    tables = bench.tables  # load before Django: chdb is opened once in this process
    django_embedded()
    from django.conf import settings

    settings.CLICKHOUSE_DSN, settings.CLICKHOUSE_SCHEMA, settings.CLICKHOUSE_TABLE = (
        bench.chdb_dsn, "wide", tables.wide)
    settings.FORECAST_STORE, settings.FORECAST_CLICKHOUSE_TABLE = "clickhouse", "bench.forecasts"
    from inference import cache
    from inference.batch import forecast_chunks, forecast_windows
    from inference.forecast_store import get_store
    from inference.forecasting import forecast_cell
    from registry import services as registry_services
    from telemetry.sources import latest_source
    from tests.factories import known_bundle
    from training.bundle import save_bundle

    field = "sinr_mean"
    model = registry_services.model_config_create(
        name="bench-batch", architecture=options.arch, input_fields=["sinr_mean", "rsrp_mean", "cqi_mean"],
        output_fields=[field], window_duration_seconds=net.window_seconds, lookback_steps=options.latest,
        forecast_steps=3, hidden_size=32)
    key = save_bundle(known_bundle(model, offset=0.1), f"models/{model.id}/bench.pt")
    version = registry_services.model_version_create(model_id=model.id, bundle_path=key)
    entry = cache.get(version.id)
    store, source = get_store(), latest_source()
    cells = net.cell_ids()
    chunk = settings.FORECAST_CHUNK_CELLS

    stages: list[tuple[float, float]] = []

    def end_to_end() -> int:
        rows, reading, storing, began = 0, 0.0, 0.0, time.perf_counter()
        for result in forecast_chunks(output_field=field, model_id=model.id, chunk_size=chunk):
            reading += time.perf_counter() - began
            began = time.perf_counter()
            rows += store.write(result)
            storing += time.perf_counter() - began
            began = time.perf_counter()
        stages.append((reading, storing))
        return rows

    end_to_end()  # warm: the store's table, the source's cell list, torch
    took, rows = timed(end_to_end, 3)
    bench.report(f"batch forecast of every cell ({len(cells):,}), {options.arch}, end to end: "
                 f"{rows:,} rows stored", took, "s", "goal <= 3 s", took <= 3)
    reading, storing = min(stages[1:], key=sum)
    bench.report("  of which reading + forward passes / storing (the best run)", reading, "s", f"/ {storing:.3f} s")
    fields = list(dict.fromkeys(entry.loaded.bundle.input_fields + entry.loaded.bundle.output_fields))
    read, batches = timed(lambda: list(source.latest_windows_chunks(
        cells=cells, window_seconds=net.window_seconds, count=options.latest, fields=fields, chunk_size=chunk)), 2)
    forward, results = timed(lambda: [forecast_windows(entry, b, field, source_name=source.name) for b in batches], 2)
    write, _ = timed(lambda: [store.write(r) for r in results], 2)
    listed, _ = timed(source.cells, 2)
    forecast = sum(len(r.forecasts) for r in results)
    bench.report(f"  read the latest {options.latest} windows ({len(batches)} chunks of {chunk})", read, "s")
    bench.report(f"  forward passes + readiness ({forecast:,} cells ready)", forward, "s")
    bench.report("  store (ClickHouse rows + the latest-per-cell table)", write, "s")
    bench.report("  the source's cell list", listed, "s")
    ready = np.array([f.cell_id for r in results for f in r.forecasts])  # the per-cell path fails on the others
    few = ready[:: max(1, len(ready) // options.per_cell)][: options.per_cell]
    [forecast_cell(output_field=field, cell_id=int(c), model_id=model.id) for c in few[:3]]  # warm
    one, _ = timed(lambda: [forecast_cell(output_field=field, cell_id=int(c), model_id=model.id) for c in few], 2)
    per_cell = one / len(few) * len(cells)
    bench.report(f"  per-cell request path (forecast_cell): {one / len(few) * 1000:.1f} ms/cell on {len(few)}, "
                 f"x {len(cells):,}", per_cell, "s (extrap.)")
    bench.report("  batch / per-cell path", per_cell / took, "x", "goal >= 50x", per_cell / took >= 50)
    if not options.projection:
        return
    # The same with the projection ordered by time that the README suggests for latest-windows reads.
    from telemetry.clickhouse import get_client

    client = get_client(bench.chdb_dsn)
    client.command(f"ALTER TABLE {tables.wide} ADD PROJECTION IF NOT EXISTS by_time "
                   "(SELECT * ORDER BY window_start_time, cell_index)")
    client.command(f"ALTER TABLE {tables.wide} MATERIALIZE PROJECTION by_time SETTINGS mutations_sync = 1")
    stages.clear()
    end_to_end()
    with_projection, _ = timed(end_to_end, 3)
    bench.report("batch forecast of every cell, end to end, with a projection ordered by time", with_projection,
                 "s", "goal <= 3 s", with_projection <= 3)
    reading, storing = min(stages[1:], key=sum)
    bench.report("  of which reading + forward passes / storing (the best run)", reading, "s", f"/ {storing:.3f} s")
    bench.report("  batch / per-cell path (the per-cell path as measured above)", per_cell / with_projection, "x",
                 "goal >= 50x", per_cell / with_projection >= 50)


SECTIONS: dict[str, Callable[[Bench], None]] = {"fetch": fetch, "batch": batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=[], choices=[[], *SECTIONS], help="default: all")
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--latest", type=int, default=12, help="windows per cell for the latest-N reads")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="Data Storage test server, per request")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ds-cells", type=int, default=128, help="cells for Data Storage serial vs concurrent")
    parser.add_argument("--long-cells", type=int, default=200, help="cells for the long-history latest-N read")
    parser.add_argument("--long-days", type=float, default=30.0)
    parser.add_argument("--arch", default="lstm", choices=["ann", "lstm", "linear"], help="batch: the model")
    parser.add_argument("--per-cell", type=int, default=50, help="batch: cells for the per-cell path")
    parser.add_argument("--projection", action="store_true",
                        help="batch: measure again with a projection ordered by time on the table")
    options = parser.parse_args()
    end = int(time.time()) // options.window * options.window  # a live network: its last window just ended
    network = SyntheticNetwork(cells=options.cells, days=options.days, window_seconds=options.window, end=end)
    bench = Bench(network, options)
    print(f"network: {network.cells:,} cells x {network.steps:,} windows of {network.window_seconds} s "
          f"({network.days:g} days), fields {', '.join(network.fields)}")
    try:
        for name in options.sections or SECTIONS:
            bench.section = name
            print(f"[{name}]", flush=True)
            SECTIONS[name](bench)
    finally:
        bench.cleanup()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS) of this process: {peak:,.0f} MB")
    missed = [r for r in bench.results if r.ok is False]
    print("goals: " + ("all met" if not missed else "missed: " + "; ".join(r.name.strip() for r in missed)))


if __name__ == "__main__":
    main()
