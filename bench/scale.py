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
- training: a training job at 1,000 cells vs the whole network (default caps): wall time ratio
  and peak memory.
- inference: one cell's forecast through the Data Storage API (test server, 20 ms a request),
  the latest-windows cache warm vs off (every forecast reads upstream), in-process and through
  Django's request stack.
- readiness: readiness over every cell from ClickHouse (wide table), cold and cached, vs the
  per-cell scan it replaces; with the projection ordered by time; the Data Storage API's budget.
- batch: a forecast of every cell from ClickHouse, end to end (read the latest windows, one
  forward pass per chunk, store in the ClickHouse forecast store), by stage, against the
  per-cell request path (`forecast_cell`, the code behind POST /v1/inference) in the same run.
- costs: the table of cost at 1k / 10k / 50k cells from what the sections above measured (50k
  extrapolated from per-cell costs; run it after them).
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
    figures: dict[str, float] = field(default_factory=dict)  # for the costs table
    projected: bool = False  # the wide table has the projection ordered by time

    @cached_property
    def django(self):
        """Django on embedded defaults in a temp folder, with one model of known weights (its
        fields checked on the bundled data) that the sources of each section then serve."""
        from _setup import django_embedded

        var = django_embedded()
        self.folders.append(var)
        from registry import services as registry_services
        from tests.factories import known_version

        model = registry_services.model_config_create(
            name="bench-scale", architecture="ann", input_fields=["sinr_mean", "rsrp_mean"],
            output_fields=["sinr_mean"], window_duration_seconds=self.network.window_seconds,
            lookback_steps=self.options.latest, forecast_steps=3, hidden_size=16, epochs=1)
        known_version(model)
        return model

    @cached_property
    def data_storage(self):
        """The Data Storage test server over the network (short history: it generates each cell
        on first request), in its own process, started before chdb opens in this one."""
        from tests.synthetic.data_storage import ServerProcess

        net = self.network
        server = ServerProcess(cells=net.cells, days=min(net.days, 0.5), window_seconds=net.window_seconds,
                               seed=net.seed, end=net.end, latency=self.options.latency_ms / 1000)
        self.servers.append(server)
        return server

    servers: list = field(default_factory=list)

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
        for server in self.servers:
            server.stop()
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
    in this one), then ClickHouse in both table shapes. The sources read their timeouts, retries
    and breakers from Django's settings: set up first."""
    bench.django  # noqa: B018 - the set-up is the point
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
    bench.projected = True
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


def training(bench: Bench) -> None:
    """A training job (the worker's code path, `training.tasks.run_training_job`, in this
    process) at 1,000 cells against the whole network, both in ClickHouse (chdb, wide table),
    with the default caps (TRAINING_MAX_CELLS, TRAINING_MAX_SAMPLES): at 10,000 cells the job
    surveys every cell, then reads a stratified 1,000. The 1,000-cell network is the first
    1,000 cells of the big one (a cell's series depends on its index alone). Memory: the
    process's RSS sampled every 20 ms during the job (chdb runs in this process, so its query
    memory counts too) and the numpy/Python allocations traced during the job."""
    import threading

    from django.conf import settings

    from telemetry.clickhouse import get_client
    from tests.synthetic import clickhouse as synthetic_clickhouse

    sys.path.insert(0, str(ROOT / "bench"))
    from _setup import django_embedded

    net, options = bench.network, bench.options
    django_embedded()
    from registry import services as registry_services
    from registry.models import ModelConfig
    from training import services
    from training.models import TrainingJob
    from training.tasks import run_training_job

    small_net = SyntheticNetwork(cells=options.train_small, days=net.days, window_seconds=net.window_seconds,
                                 end=net.end, seed=net.seed)
    client = get_client(bench.chdb_dsn)
    began = time.perf_counter()
    small = synthetic_clickhouse.load(client, small_net, database="synthetic_small", with_map=False).wide
    big = bench.tables.wide if "tables" in bench.__dict__ else synthetic_clickhouse.load(
        client, net, database="synthetic_train", with_map=False).wide
    print(f"  (loaded the {small_net.cells:,}- and {net.cells:,}-cell networks in {time.perf_counter() - began:.0f} s)",
          flush=True)
    span = 3 * 3600  # held out for scoring; the job trains on the rest of the network's days
    settings.TELEMETRY_SOURCE, settings.CLICKHOUSE_SCHEMA = "clickhouse", "wide"
    settings.CLICKHOUSE_DSN = bench.chdb_dsn
    settings.EVALUATION_SPAN_SECONDS = span
    lookback = int(net.days * 86_400) - span - 3600
    # Tables differ per run: the field discovery cache would answer from the first one.
    settings.FIELD_DISCOVERY_CACHE_SECONDS = 0

    def job(table: str, name: str) -> tuple[float, int, int, int, dict]:
        settings.CLICKHOUSE_TABLE = table
        model = ModelConfig.objects.filter(name=name).first()
        if model is None:
            model = registry_services.model_config_create(
                name=name, architecture="ann", input_fields=[f"{k}_mean" for k in ("sinr", "rsrp", "rsrq", "cqi")],
                output_fields=["sinr_mean"], window_duration_seconds=net.window_seconds, lookback_steps=12,
                forecast_steps=3, hidden_size=32, epochs=options.train_epochs, patience=options.train_epochs)
        created = services.training_job_create(model=model, lookback_seconds=lookback, reason="bench")
        peak, stop = [_rss()], threading.Event()

        def watch() -> None:
            while not stop.wait(0.02):
                peak.append(max(peak[-1], _rss()))

        watcher = threading.Thread(target=watch, daemon=True)
        before = _rss()
        tracemalloc.start()
        watcher.start()
        began = time.perf_counter()
        assert run_training_job(str(created.id)) == "completed", TrainingJob.objects.get(id=created.id).error_message
        took = time.perf_counter() - began
        stop.set()
        watcher.join()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return took, before, max(peak), traced, TrainingJob.objects.get(id=created.id).data_summary

    runs = {"small": [], "big": []}
    for _ in range(options.train_repeat):  # alternate, so both sizes see the same machine load
        runs["small"].append(job(small, "bench-scale-small"))
        runs["big"].append(job(big, "bench-scale-big"))
    best = {k: min(v, key=lambda r: r[0]) for k, v in runs.items()}
    for key, cells in (("small", small_net.cells), ("big", net.cells)):
        took, before, rss, traced, summary = best[key]
        fit = summary["fit_seconds"]
        bench.report(f"training job, {cells:,} cells ({summary['cells_read']:,} read, "
                     f"{summary['samples']:,} samples of {summary['sampling']['samples_valid']:,})", took, "s",
                     f"(fit {fit:.1f} s, reading + sampling {took - fit:.1f} s)")
        bench.report(f"  peak RSS during the job (chdb in this process; {before / 2**20:,.0f} MB before)",
                     rss / 2**20, "MB", "goal <= 2048 MB" if key == "big" else "",
                     rss <= 2 * 2**30 if key == "big" else None)
        bench.report("  peak numpy/Python allocations during the job (traced)", traced / 2**20, "MB")
    ratio = best["big"][0] / best["small"][0]
    bench.report(f"training job {net.cells:,} / {small_net.cells:,} cells, wall time", ratio, "x", "goal <= 1.5x",
                 ratio <= 1.5)
    strata = best["big"][4]["sampling"]["cells"]["strata"]
    print("  strata at 10,000 cells (cells / chosen): "
          + "; ".join(f"{s['name']} {s['cells']}/{s['chosen']}" for s in strata), flush=True)


def _rss() -> int:
    """This process's resident memory now (bytes), from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def inference(bench: Bench) -> None:
    """A forecast of one cell through the Data Storage API: every forecast reading upstream (the
    cache off, as before) vs the latest-windows cache warm (a repeated forecast within a window)."""
    model, server = bench.django, bench.data_storage  # Django set up before the app imports
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from access.models import ApiToken
    from core.errors import Invalid
    from inference.forecasting import forecast_cell

    settings.DATA_STORAGE_API_URL, settings.CLICKHOUSE_DSN = server.url, ""
    settings.LATEST_WINDOWS_CACHE = False
    cell = None
    for candidate in bench.network.cell_ids()[:50].tolist():  # a cell whose latest windows are complete
        try:
            forecast_cell(output_field="sinr_mean", cell_id=candidate, model_id=model.id)
            cell = candidate
            break
        except Invalid:
            continue
    assert cell is not None, "no ready cell among the first 50"
    user = get_user_model().objects.create_user("bench")
    _, token = ApiToken.issue(user=user, name="bench")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    body = {"output_field": "sinr_mean", "cell_id": cell, "model_id": str(model.id)}

    def runs(call, n: int) -> list[float]:
        took = []
        for _ in range(n):
            began = time.perf_counter()
            call()
            took.append((time.perf_counter() - began) * 1000)
        return took

    def in_process():
        forecast_cell(output_field="sinr_mean", cell_id=cell, model_id=model.id)

    def over_api():
        response = client.post("/v1/inference", body, content_type="application/json")
        assert response.status_code == 200, response.content

    cold = runs(in_process, 100)
    cold_api = runs(over_api, 100)
    settings.LATEST_WINDOWS_CACHE = True
    cache.clear()
    in_process()  # fills the cache
    warm = runs(in_process, 500)
    warm_api = runs(over_api, 500)
    latency = bench.options.latency_ms
    bench.report(f"forecast of one cell, Data Storage API ({latency:g} ms), cache off: p50", percentile(cold, 50), "ms")
    bench.report("  latest-windows cache warm: p50", percentile(warm, 50), "ms", "goal <= 10 ms",
                 percentile(warm, 50) <= 10)
    bench.report("  latest-windows cache warm: p99", percentile(warm, 99), "ms")
    bench.report("  off / warm (p50)", percentile(cold, 50) / percentile(warm, 50), "x")
    bench.report("POST /v1/inference (Django request stack, token auth), cache off: p50", percentile(cold_api, 50),
                 "ms")
    bench.report("  latest-windows cache warm: p50", percentile(warm_api, 50), "ms", "goal <= 10 ms",
                 percentile(warm_api, 50) <= 10)
    bench.report("  off / warm (p50)", percentile(cold_api, 50) / percentile(warm_api, 50), "x")
    bench.figures.update(inference_cold=percentile(cold_api, 50), inference_warm=percentile(warm_api, 50))


def readiness(bench: Bench) -> None:
    """Readiness of every cell from ClickHouse: the whole answer cold (both caches empty) and
    cached, against the per-cell scan it replaces (one latest read and one rule per cell)."""
    model = bench.django  # Django set up before the app imports
    from django.conf import settings
    from django.core.cache import cache

    from inference import readiness as ready
    from inference.forecasting import complete_tail

    net, count = bench.network, bench.options.latest
    source = bench.clickhouse("wide")
    settings.CLICKHOUSE_DSN, settings.CLICKHOUSE_SCHEMA = bench.chdb_dsn, "wide"
    settings.CLICKHOUSE_TABLE, settings.DATA_STORAGE_API_URL = bench.tables.wide, ""
    inputs, outputs = ["sinr_mean", "rsrp_mean"], ["sinr_mean"]
    cells = np.asarray(source.cells(), dtype=np.int64)

    def cold():
        cache.clear()
        return ready.cell_readiness(output_field="sinr_mean", model_id=model.id)

    def scan(cells_asked):
        cache.clear()
        return ready.scan(source, cells_asked, window_seconds=net.window_seconds, lookback=count, inputs=inputs,
                          outputs=outputs)

    label = "with" if bench.projected else "without"
    listing, _ = timed(source.cells, 2)
    bench.report("listing the cells (SELECT DISTINCT; kept per process for FIELD_DISCOVERY_CACHE_SECONDS)",
                 listing, "s")
    took, answer = timed(cold, 3)  # the best run: the listing kept from the first
    assert answer.scanned == len(cells)
    bench.report(f"readiness of every cell ({len(cells):,}) from ClickHouse, cold, {label} the time projection",
                 took, "s", "goal <= 1 s", took <= 1)
    cached, _ = timed(lambda: ready.cell_readiness(output_field="sinr_mean", model_id=model.id), 5)
    bench.report("  the same within the window (cached)", cached * 1000, "ms")
    thousand, _ = timed(lambda: scan(cells[:1000]), 3)
    bench.report("  scan of 1,000 cells, cold", thousand, "s")
    few = cells[:: max(1, len(cells) // 50)][:50]
    fields = list(dict.fromkeys(inputs + outputs))
    def one(cell: int) -> int:
        frame = source.latest_windows(cell_index=cell, window_seconds=net.window_seconds, count=count, fields=fields)
        return complete_tail(frame, inputs, outputs)

    per_cell, _ = timed(lambda: [one(int(c)) for c in few], 2)
    per_cell = per_cell / len(few)
    bench.report(f"  the per-cell scan it replaces: {per_cell * 1000:.1f} ms/cell x {len(cells):,}",
                 per_cell * len(cells), "s (extrap.)")
    bench.report("  per-cell / one pass", per_cell * len(cells) / took, "x")
    bench.figures.update(readiness_1k=thousand, readiness_10k=took, readiness_cells=len(cells),
                         readiness_cached=cached)
    if not bench.projected:
        from telemetry.clickhouse import get_client

        client = get_client(bench.chdb_dsn)
        client.command(f"ALTER TABLE {bench.tables.wide} ADD PROJECTION by_time "
                       "(SELECT * ORDER BY window_start_time, cell_index)")
        client.command(f"ALTER TABLE {bench.tables.wide} MATERIALIZE PROJECTION by_time SETTINGS mutations_sync = 1")
        bench.projected = True
        projected, _ = timed(cold, 3)
        bench.report("  with the projection ordered by time", projected, "s", "goal <= 1 s", projected <= 1)
        projected_1k, _ = timed(lambda: scan(cells[:1000]), 3)
        bench.report("  scan of 1,000 cells, cold, with the projection", projected_1k, "s")
        bench.figures.update(readiness_10k_projected=projected, readiness_1k_projected=projected_1k)
    fetch_1k, _ = timed(lambda: source.latest_windows_many(cells=cells[:1000], window_seconds=net.window_seconds,
                                                           count=count, fields=fields), 2)
    fetch_all, _ = timed(lambda: source.latest_windows_many(cells=cells, window_seconds=net.window_seconds,
                                                            count=count, fields=fields), 2)
    bench.figures.update(fetch_1k=fetch_1k, fetch_10k=fetch_all)


def readiness_data_storage(bench: Bench) -> None:
    """How far the Data Storage API's budget reaches: cells checked in READINESS_BUDGET_SECONDS."""
    model, server = bench.django, bench.data_storage  # Django set up before the app imports
    from django.conf import settings
    from django.core.cache import cache

    from inference import readiness as ready

    settings.DATA_STORAGE_API_URL, settings.CLICKHOUSE_DSN = server.url, ""
    cache.clear()
    took, answer = timed(lambda: ready.cell_readiness(output_field="sinr_mean", model_id=model.id))
    bench.report(f"readiness over the Data Storage API, budget {settings.READINESS_BUDGET_SECONDS:g} s: cells checked",
                 answer.scanned, "cells", f"of {answer.total_cells:,} in {took:.2f} s")
    bench.figures.update(ds_cell_seconds=took / max(1, answer.scanned))


def costs(bench: Bench) -> None:
    """Cost at 1k / 10k / 50k cells, from the figures measured above: what was measured at 1,000
    and at the network's size is shown as measured; 50,000 is the per-cell cost at the largest
    measured size × 50,000 (marked extrap.); per-request costs do not grow with the network."""
    f = bench.figures
    n = int(f.get("readiness_cells", bench.network.cells))

    def show(value: float | None, unit: str, extrapolated: bool = False) -> str:
        return "n/a" if value is None else f"{value:,.3g} {unit}{' (extrap.)' if extrapolated else ''}"

    def row(what: str, one_k: float | None, at_n: float | None, unit: str) -> None:
        fifty = None if at_n is None else at_n / n * 50_000
        print(f"  | {what} | {show(one_k, unit)} | {show(at_n, unit)} | {show(fifty, unit, True)} |")

    def flat(what: str, value: float | None, unit: str) -> None:
        print(f"  | {what} | {show(value, unit)} | {show(value, unit)} | {show(value, unit)} |")

    print(f"  | cost | 1,000 cells | {n:,} cells | 50,000 cells |")
    print("  |---|---|---|---|")
    row("fetch: latest windows of every cell, ClickHouse", f.get("fetch_1k"), f.get("fetch_10k"), "s")
    if "ds_cell_seconds" in f:
        per = f["ds_cell_seconds"]
        print(f"  | fetch: latest windows, Data Storage API, concurrency 8 | {show(per * 1000, 's', True)} | "
              f"{show(per * n, 's', True)} | {show(per * 50_000, 's', True)} |")
    row("readiness, ClickHouse, cold", f.get("readiness_1k"), f.get("readiness_10k"), "s")
    if "readiness_10k_projected" in f:
        row("readiness, ClickHouse, cold, projection by time", f.get("readiness_1k_projected"),
            f.get("readiness_10k_projected"), "s")
    flat("readiness, cached (within the window)", f.get("readiness_cached"), "s")
    flat("single inference, Data Storage API, cache warm (p50, API)", f.get("inference_warm"), "ms")
    flat("single inference, Data Storage API, cache off (p50, API)", f.get("inference_cold"), "ms")
    print("  | batch forecast / training | (batch) | | |")


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
    # A sweep reads each cell once per window, so the per-cell path reads upstream every time:
    # the latest-windows cache off (warm, it would measure the cache, not the sweep).
    cached, settings.LATEST_WINDOWS_CACHE = settings.LATEST_WINDOWS_CACHE, False
    [forecast_cell(output_field=field, cell_id=int(c), model_id=model.id) for c in few[:3]]  # warm the version
    one, _ = timed(lambda: [forecast_cell(output_field=field, cell_id=int(c), model_id=model.id) for c in few], 2)
    settings.LATEST_WINDOWS_CACHE = cached
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


SECTIONS: dict[str, Callable[[Bench], None]] = {"fetch": fetch, "training": training, "inference": inference,
                                                 "readiness": readiness, "readiness_ds": readiness_data_storage,
                                                 "costs": costs, "batch": batch}


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
    parser.add_argument("--train-small", type=int, default=1000, help="cells of the training baseline network")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--train-repeat", type=int, default=2)
    options = parser.parse_args()
    end = int(time.time()) // options.window * options.window  # a live network: its last window just ended
    network = SyntheticNetwork(cells=options.cells, days=options.days, window_seconds=options.window, end=end)
    bench = Bench(network, options)
    chosen = options.sections or list(SECTIONS)
    if {"inference", "readiness_ds"} & set(chosen):
        bench.data_storage  # noqa: B018 (its process starts before chdb opens in this one)
    print(f"network: {network.cells:,} cells x {network.steps:,} windows of {network.window_seconds} s "
          f"({network.days:g} days), fields {', '.join(network.fields)}")
    try:
        for name in chosen:
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
