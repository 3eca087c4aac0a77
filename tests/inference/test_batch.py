"""Batch forecasts on the bundled data: equal to the one-cell forecasts cell by cell, the same
readiness rule, the API's paging and errors, and the schedule's runs (chunks run in-process here;
tests/integration/test_forecast_workers.py runs them on real workers)."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import Invalid
from inference.batch import forecast_batch
from inference.forecasting import complete_tail, complete_tails, forecast_cell
from inference.models import ForecastChunk, ForecastRun, LatestForecast, StoredForecast
from performance.services import election
from telemetry.sources import latest_source
from tests.factories import known_version, trained_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def trained(make_model):
    model = make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=["rsrp_mean", FIELD],
                       window_duration_seconds=10, lookback_steps=8, forecast_steps=3, hidden_size=8, epochs=2)
    trained_version(model)
    return model


def test_complete_tails_is_complete_tail_for_every_cell():
    source = latest_source()
    for count in (1, 5, 12, 40):
        batch = source.latest_windows_many(cells=source.cells(), window_seconds=10, count=count,
                                           fields=["sinr_mean", "rsrp_mean", "cqi_mean"])
        tails = complete_tails(batch, ["sinr_mean", "cqi_mean"], ["rsrp_mean"])
        expected = [complete_tail(f, ["sinr_mean", "cqi_mean"], ["rsrp_mean"]) for f in batch.frames()]
        assert tails.tolist() == expected
        assert len(set(expected)) > 1  # the cells differ: the rule was exercised, not only the easy case


def test_a_batch_forecast_equals_the_single_forecasts_cell_by_cell(trained):
    result = forecast_batch(output_field=FIELD, model_id=trained.id, chunk_size=5)  # several chunks
    cells = latest_source().cells()
    assert sorted([f.cell_id for f in result.forecasts] + [s.cell_id for s in result.skipped]) == sorted(cells)
    assert result.forecasts and result.skipped
    for forecast in result.forecasts:
        single = forecast_cell(output_field=FIELD, cell_id=forecast.cell_id, model_id=trained.id)
        assert [s["values"][FIELD] for s in single.steps] == pytest.approx(forecast.values.tolist(), abs=1e-6)
        assert int(single.steps[0]["window_start"].timestamp()) == forecast.origin == single.input_end
        assert single.input_start == forecast.input_start
    for skipped in result.skipped:
        with pytest.raises(Invalid) as error:
            forecast_cell(output_field=FIELD, cell_id=skipped.cell_id, model_id=trained.id)
        assert error.value.details["found"] == skipped.found
        assert f"{skipped.found} complete contiguous windows" in skipped.reason


def test_unknown_cells_are_listed_with_the_reason(trained):
    result = forecast_batch(output_field=FIELD, cells=[11016973, 424242], model_id=trained.id)
    assert [f.cell_id for f in result.forecasts] == [11016973]
    assert [(s.cell_id, "unknown" in s.reason) for s in result.skipped] == [(424242, True)]


def test_batch_api_pages_over_cells(api, trained):
    cells = latest_source().cells()
    seen = []
    for offset in range(0, len(cells), 10):
        response = api.post("/inference/batch", {"output_field": FIELD, "model_id": str(trained.id),
                                                 "limit": 10, "offset": offset})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(cells) and body["limit"] == 10 and body["offset"] == offset
        page = [i["cell_id"] for i in body["items"]] + [s["cell_id"] for s in body["skipped"]]
        assert sorted(page) == cells[offset:offset + 10]
        seen += page
        for item in body["items"]:
            steps = item["predictions"]
            assert [s["step"] for s in steps] == [1, 2, 3] and steps[0]["window_start"] == item["input_end"]
    assert sorted(seen) == cells


def test_batch_api_bad_input(api, viewer_api, client, trained, make_model):
    ok = {"output_field": FIELD, "model_id": str(trained.id)}
    assert viewer_api.post("/inference/batch", ok).status_code == 200  # a read: viewers may
    anonymous = client.post("/v1/inference/batch", ok, content_type="application/json")
    assert anonymous.status_code == 401
    for bad in ({**ok, "cells": []}, {**ok, "limit": 0}, {**ok, "offset": -1}, {**ok, "output_field": "no such!"},
                {**ok, "cells": ["x"]}, {"model_id": str(trained.id)}):
        response = api.post("/inference/batch", bad)
        assert response.status_code == 422 and response.json()["detail"], bad
    no_best = api.post("/inference/batch", {"output_field": FIELD})
    assert no_best.status_code == 409 and "evaluate the field first" in no_best.json()["detail"]
    unknown = api.post("/inference/batch", {**ok, "model_id": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 404
    wrong = api.post("/inference/batch", {**ok, "output_field": "cqi_mean"})
    assert wrong.status_code == 422 and "does not forecast" in wrong.json()["detail"]
    raw = client.post("/v1/inference/batch", "{nope", content_type="application/json",
                      headers={"Authorization": f"Bearer {api.token}"})
    assert raw.status_code == 400


def test_the_schedule_forecasts_every_cell_once_per_slot_and_stores_it(
        make_model, settings, django_capture_on_commit_callbacks):
    from inference import tasks

    settings.FORECAST_CHUNK_CELLS = 7
    settings.FORECAST_STORE = "database"
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4,
                       forecast_steps=2)
    known_version(model, offset=1.0)
    election.field_evaluate(field=FIELD)
    cells = latest_source().cells()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert tasks.forecast_tick() == [f"{FIELD}: {len(cells)} cells in {-(-len(cells) // 7)} chunks"]
    assert len(queued) == 1
    again = tasks.forecast_tick()  # the same slot: claimed already
    assert "already claimed" in again[0] and ForecastRun.objects.count() == 1
    chunks = list(ForecastChunk.objects.order_by("index").values_list("id", flat=True))
    for chunk_id in chunks:
        assert tasks.forecast_chunk(chunk_id)["chunk"] == chunk_id
    assert tasks.forecast_chunk(chunks[0]) == {"chunk": chunks[0], "claimed": False}  # a duplicate task
    run = ForecastRun.objects.get()
    assert run.status == "done" and run.forecasts + run.skipped == len(cells) and run.forecasts > 0
    assert StoredForecast.objects.count() == run.forecasts * 2
    assert LatestForecast.objects.filter(field=FIELD).count() == run.forecasts
    reference = forecast_batch(output_field=FIELD)
    stored = {(r.cell, r.step): r.value for r in StoredForecast.objects.all()}
    for forecast in reference.forecasts:
        assert [stored[(forecast.cell_id, k)] for k in (1, 2)] == pytest.approx(forecast.values.tolist())
    skipped = [c for chunk in ForecastChunk.objects.all() for c, _ in chunk.skipped]
    assert sorted(skipped) == sorted(s.cell_id for s in reference.skipped)


def test_prune_keeps_recent_forecasts(make_model, settings):
    from datetime import timedelta

    from django.utils import timezone

    from inference import tasks
    from inference.forecast_store import get_store

    settings.FORECAST_STORE, settings.FORECAST_RETENTION_DAYS = "database", 3
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4,
                       forecast_steps=2)
    known_version(model)
    get_store().write(forecast_batch(output_field=FIELD, model_id=model.id))
    total = StoredForecast.objects.count()
    StoredForecast.objects.filter(cell=11016973).update(created_at=timezone.now() - timedelta(days=4))
    pruned = tasks.prune_forecasts()
    assert pruned["forecasts"] == 2 and StoredForecast.objects.count() == total - 2
    assert np.all(StoredForecast.objects.values_list("cell", flat=True) != 11016973)


def test_forecast_all_command_stores_every_ready_cell(make_model, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.FORECAST_STORE = "database"
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4,
                       forecast_steps=2)
    known_version(model)
    out = StringIO()
    call_command("forecast_all", FIELD, "--model", str(model.id), "--chunk", "10", stdout=out)
    expected = forecast_batch(output_field=FIELD, model_id=model.id)
    assert f"{len(expected.forecasts)} cells forecast" in out.getvalue()
    assert f"{len(expected.forecasts) * 2} rows stored in the database store" in out.getvalue()
    assert StoredForecast.objects.count() == len(expected.forecasts) * 2
    with pytest.raises(CommandError, match="evaluate the field first"):
        call_command("forecast_all", "rsrp_mean", stdout=StringIO())
    with pytest.raises(CommandError, match="--cells"):
        call_command("forecast_all", FIELD, "--cells", "1,x", stdout=StringIO())


def test_runs_and_chunks_show_in_the_admin(admin_client, make_model, settings):
    from inference import services

    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4)
    version = known_version(model)
    run = services.forecast_run_create(field=FIELD, origin=1_700_000_000, version_id=version.id, cells=[1, 2, 3],
                                       chunk_cells=2)
    assert services.forecast_run_create(field=FIELD, origin=1_700_000_000, version_id=version.id, cells=[1],
                                        chunk_cells=2) is None  # the slot is taken
    listing = admin_client.get("/admin/inference/forecastrun/")
    assert listing.status_code == 200 and FIELD in listing.content.decode()
    page = admin_client.get(f"/admin/inference/forecastrun/{run.id}/change/")
    assert page.status_code == 200 and "Queued" in page.content.decode()  # its chunks, inline
    assert admin_client.get("/admin/inference/forecastchunk/").status_code == 200


def test_chunks_a_dead_worker_left_are_queued_again_then_failed(make_model, settings,
                                                                  django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    from inference import services, tasks

    settings.FORECAST_CHUNK_CELLS, settings.FORECAST_STORE = 7, "database"
    settings.FORECAST_CHUNK_LEASE_SECONDS, settings.FORECAST_CHUNK_MAX_ATTEMPTS = 60, 2
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=4,
                       forecast_steps=2)
    known_version(model, offset=1.0)
    election.field_evaluate(field=FIELD)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.forecast_tick()
    first, second, *rest = ForecastChunk.objects.order_by("index").values_list("id", flat=True)
    # What dead workers leave: a chunk claimed by a worker killed mid-chunk, and a chunk whose
    # task went with a dead cluster (the broker holds nothing any more).
    assert services.forecast_chunk_claim(chunk_id=first, worker="dead-1") is not None
    OrmQ.objects.all().delete()
    long_ago = timezone.now() - timedelta(seconds=120)
    ForecastChunk.objects.filter(id=first).update(claimed_at=long_ago)
    ForecastChunk.objects.filter(id__in=[second, *rest]).update(queued_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        lines = tasks.forecast_tick()
    assert "its worker (dead-1) stopped; queued again" in lines[0] and "not taken within 60 s" in lines[1]
    assert sorted(int(q.task["args"][0]) for q in OrmQ.objects.all()) == sorted([first, second, *rest])
    assert tasks.forecast_tick()[-1].endswith("already claimed")  # recovered once per lease, not every tick
    for chunk_id in (first, second, *rest):
        assert tasks.forecast_chunk(chunk_id)["chunk"] == chunk_id
    run = ForecastRun.objects.get()
    assert run.status == "done" and run.forecasts + run.skipped == len(latest_source().cells())

    # A chunk whose worker dies on every claim fails after FORECAST_CHUNK_MAX_ATTEMPTS: its run ends.
    other = services.forecast_run_create(field=FIELD, origin=int(run.origin.timestamp()) + 10,
                                         version_id=run.version_id, cells=[1, 2], chunk_cells=7)
    (poison,) = other.chunk_rows.values_list("id", flat=True)
    for attempt in (1, 2):
        assert services.forecast_chunk_claim(chunk_id=poison, worker=f"dead-{attempt}").attempts == attempt
        ForecastChunk.objects.filter(id=poison).update(claimed_at=long_ago)
        lines = services.forecast_chunks_recover(lease_seconds=60, max_attempts=2)[1]
    assert lines == [f"{ForecastChunk.objects.get(id=poison)}: failed after 2 claims"]
    other.refresh_from_db()
    assert other.status == "failed" and "stopped while forecasting it, 2 times" in other.error
