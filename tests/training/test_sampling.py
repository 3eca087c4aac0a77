"""Training on a bounded, representative set (issue 13): a synthetic network in ClickHouse (chdb,
the real engine) far larger than the caps; the cap holds, every kind of cell and every read
cell's newest sample are kept, the job shows cells read of the total in the API and the jobs
page, and a cancel during the fetch ends the job within one chunk."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from telemetry.clickhouse import ClickHouseSource, get_client
from telemetry.frame import WindowFrame
from tests.synthetic import clickhouse as synthetic_clickhouse
from tests.synthetic.network import SyntheticNetwork
from training import pipeline, sampling, services
from training.models import JobEvent, JobStatus, TrainingJob
from training.sequences import build_samples

END = int(time.time()) // 60 * 60 - 1800  # a live network: its windows end half an hour ago
NET = SyntheticNetwork(cells=1200, days=0.25, seed=5, end=END)
SPEC = dict(input_fields=["sinr_mean", "rsrp_mean"], output_fields=["rsrp_mean"], window_duration_seconds=60,
            lookback_steps=6, forecast_steps=2)


@pytest.fixture(scope="module")
def tables(clickhouse_dsn):
    return synthetic_clickhouse.load(get_client(clickhouse_dsn), NET, database="scaletrain", chunk_cells=400,
                                     with_map=False)


@pytest.fixture
def network(settings, clickhouse_dsn, tables):
    settings.TELEMETRY_SOURCE = "clickhouse"
    settings.CLICKHOUSE_DSN, settings.CLICKHOUSE_SCHEMA, settings.CLICKHOUSE_TABLE = clickhouse_dsn, "wide", tables.wide
    settings.EVALUATION_SPAN_SECONDS = 600
    settings.TRAINING_MAX_CELLS, settings.TRAINING_MAX_SAMPLES = 60, 4000
    return ClickHouseSource(clickhouse_dsn, schema="wide", table=tables.wide)


def reference_kinds() -> dict[int, int]:
    """Each cell's kind from the generator's own rows: terciles of the mean sample count and mean
    RSRP over its latest 12 windows (computed here, not by training.sampling)."""
    activity, level = {}, {}
    for cell in NET.cell_ids().tolist():
        rows = NET.cell(cell)
        latest = rows.sample_count > 0
        counts, rsrp = rows.sample_count[latest][-12:], rows.values[latest][-12:, NET.fields.index("rsrp_mean")]
        activity[cell], level[cell] = counts.mean(), np.nanmean(rsrp)
    cells = sorted(activity)

    def tercile(values: dict) -> dict:
        # Thirds by rank (ties by cell id): at some hours a third of the cells share the idle floor.
        order = sorted(cells, key=lambda c: (values[c], c))
        return {c: 3 * i // len(cells) for i, c in enumerate(order)}

    a, b = tercile(activity), tercile(level)
    return {c: 3 * a[c] + b[c] for c in cells}


def test_the_training_sample_cap_holds_on_a_large_synthetic_network(network, make_model, settings):
    model = make_model(**SPEC)
    tracemalloc.start()
    data = pipeline.fetch_samples(model, lookback_seconds=5 * 3600)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    samples, summary = data.samples, data.summary

    # The caps: 60 of 1,200 cells read, 4,000 samples kept of the ~16,000 valid ones, float32.
    assert summary["cells_total"] == 1200 and summary["cells_read"] == 60 == len(np.unique(samples.cell))
    assert len(samples) == 4000 == summary["sampling"]["samples_kept"] < summary["sampling"]["samples_valid"] / 3
    assert samples.x.dtype == samples.y.dtype == samples.last.dtype == np.float32
    assert peak < 60 * 2**20, peak  # one chunk of 100 cells and the sample arrays, not the network

    # Every kind of cell (by the generator's own rows) is among those read, in proportion.
    kinds = reference_kinds()
    read = np.unique(samples.cell).tolist()
    assert {kinds[c] for c in read} == set(kinds.values()) and len(set(kinds.values())) == 9
    strata = summary["sampling"]["cells"]["strata"]
    assert sum(s["chosen"] for s in strata) == 60 and all(s["chosen"] >= 1 for s in strata)
    assert all(abs(s["chosen"] - 60 * s["cells"] / 1200) <= 1.5 for s in strata)

    # Each read cell keeps its newest valid sample, so the newest data is in (and validates).
    source = network
    end = source.now() - settings.EVALUATION_SPAN_SECONDS
    for cell in read[:10]:
        frame: WindowFrame = source.windows(cell_index=cell, window_seconds=60, start=end - 5 * 3600, end=end,
                                            fields=["sinr_mean", "rsrp_mean"])
        every = build_samples(frame, inputs=SPEC["input_fields"], outputs=SPEC["output_fields"], lookback=6,
                              forecast=2)
        mine = samples.origin[samples.cell == cell]
        assert mine.max() == every.origin.max()
        assert len(mine) < len(every) and mine.min() < np.median(every.origin)  # older data too, not just the tail
    assert summary["sampling"]["newest_sample"] == pipeline._utc(int(samples.origin.max()))

    # Seeded: the same network and seed read the same cells.
    assert np.array_equal(np.unique(pipeline.fetch_samples(model, lookback_seconds=5 * 3600).samples.cell), read)


class Spy:
    """Calls the real progress service and records what the API and the jobs page show meanwhile;
    optionally requests a cancel (as an operator would) once `cancel_at` cells are read."""

    def __init__(self, api, client, cancel_at: int | None = None):
        self.api, self.client, self.cancel_at = api, client, cancel_at
        self.calls: list[tuple[str, int, int]] = []  # what the worker reported
        self.seen: list[tuple[str, int, int]] = []  # what the API showed right after
        self.pages: list[str] = []
        self.real = services.training_job_fetch_progress

    def __call__(self, *, job_id, phase, done, total):
        answer = self.real(job_id=job_id, phase=phase, done=done, total=total)
        self.calls.append((phase, done, total))
        shown = self.api.get(f"/training/jobs/{job_id}").json()
        self.seen.append((shown["phase"], shown["cells_read"], shown["cells_to_read"]))
        if phase == "fetch" and done:
            self.pages.append(self.client.get(reverse("jobs-table")).content.decode())
        if self.cancel_at is not None and phase == "fetch" and done >= self.cancel_at and answer:
            services.training_job_cancel(job=TrainingJob.objects.get(id=job_id))
        return answer


def test_a_job_shows_cells_read_of_the_total(network, make_model, api, client, user, settings, s3_endpoint,
                                             monkeypatch):
    settings.TRAINING_MAX_CELLS = 250  # a survey of 1,200 cells, then 3 chunks of <= 100 cells
    client.force_login(user)
    spy = Spy(api, client)
    monkeypatch.setattr(services, "training_job_fetch_progress", spy)
    model = make_model(architecture="linear", **SPEC)
    job = services.training_job_create(model=model, lookback_seconds=5 * 3600)
    assert pipeline.run(job.id) == "completed"
    survey = [s for s in spy.seen if s[0] == "survey"]
    fetch = [s for s in spy.seen if s[0] == "fetch"]
    assert survey[0] == ("survey", 0, 1200) and survey[-1] == ("survey", 1200, 1200)
    assert fetch == [("fetch", 0, 250), ("fetch", 100, 250), ("fetch", 200, 250), ("fetch", 250, 250)]
    assert spy.seen[-1] == ("fit", 250, 250)
    assert "reading cells 100/250" in spy.pages[0]
    done = TrainingJob.objects.get(id=job.id)
    assert done.data_summary["sampling"]["cells"]["chosen"] == 250 and done.data_summary["cells_read"] == 250
    assert done.data_summary["samples"] == 4000


def test_a_cancel_during_the_fetch_ends_the_job_cancelled_within_a_chunk(network, make_model, api, client, user,
                                                                         settings, monkeypatch):
    settings.TRAINING_MAX_CELLS = 1200  # every cell: 12 chunks of 100
    client.force_login(user)
    spy = Spy(api, client, cancel_at=100)
    monkeypatch.setattr(services, "training_job_fetch_progress", spy)
    model = make_model(**SPEC)
    job = services.training_job_create(model=model, lookback_seconds=5 * 3600)
    began = time.perf_counter()
    assert pipeline.run(job.id) == "cancelled"
    took = time.perf_counter() - began
    ended = TrainingJob.objects.get(id=job.id)
    assert ended.status == JobStatus.CANCELLED and not ended.version and ended.epoch == 0
    assert spy.calls[-1] == ("fetch", 200, 1200)  # one more chunk read, then stopped
    assert spy.seen[-1] == ("fetch", 100, 1200) == (ended.phase, ended.cells_read, ended.cells_to_read)
    assert JobEvent.objects.get(job_id=job.id, kind="cancelled").message == \
        "stopped while reading cells (100 of 1200 cells)"
    assert not ended.model.is_training
    assert took < 30, took


def test_water_fill_and_allocation_split_budgets_fairly():
    rng = np.random.default_rng(0)
    for _ in range(500):
        counts, budget = rng.integers(0, 50, rng.integers(1, 20)), int(rng.integers(0, 600))
        quotas = sampling.water_fill(counts, budget)
        assert (quotas <= counts).all() and quotas.sum() == min(budget, counts.sum())
        short = quotas < counts  # a cell held back gets at least as much as any other, within one
        assert not short.any() or quotas[short].min() >= quotas.max() - 1
        sizes, most = rng.integers(0, 30, 10), int(rng.integers(1, 120))
        cells = sampling.allocate(sizes, most)
        assert (cells <= sizes).all() and cells.sum() == min(most, sizes.sum())
        if most >= (sizes > 0).sum():
            assert ((cells > 0) == (sizes > 0)).all()  # every kind present keeps a cell


def test_newest_first_keeps_the_newest_half_and_spreads_the_rest():
    origins = np.arange(0, 3000, 3)
    kept = sampling.newest_first(origins, 10)
    assert kept.tolist() == [0, 597, 1194, 1791, 2388, 2985, 2988, 2991, 2994, 2997]
    assert sampling.newest_first(origins[:5], 10).tolist() == origins[:5].tolist()


@pytest.mark.django_db(transaction=True)  # the job runs on a thread of the command, with its own connection
def test_manage_py_train_here_follows_the_job_to_its_end(network, make_model, settings, s3_endpoint, capsys):
    settings.TRAINING_DEFAULT_LOOKBACK_SECONDS = 5 * 3600
    model = make_model(architecture="linear", **SPEC)
    call_command("train", model.name, "--here")
    shown = capsys.readouterr().out
    job = TrainingJob.objects.get(model=model)
    assert job.status == JobStatus.COMPLETED and job.phase == "fit" and job.cells_read == 60
    assert f"job {job.id}: completed" in shown
    assert any(line.startswith("completed ") for line in shown.splitlines())  # the progress bar's last state


def test_strata_split_tied_cells_into_thirds():
    # Night: half the cells idle at the same floor. Quantile edges put them all above the first
    # edge and left the lowest activity tercile empty (the stratification then had 6 kinds, not 9).
    activity = np.concatenate([np.full(60, 22.0), np.linspace(30, 110, 60)]).astype(np.float32)
    level = np.linspace(-110, -80, 120).astype(np.float32)[np.random.default_rng(0).permutation(120)]
    kinds = sampling.strata_of(activity, level)
    assert np.bincount(kinds // 3, minlength=3).tolist() == [40, 40, 40]
    assert len(set(kinds.tolist())) == 9
