"""The forecast schedule on two real worker clusters sharing a private Redis: one run per field and
window slot whoever schedules it, its chunks shared by both workers, each cell forecast and stored
once, duplicate chunk tasks harmless."""

from __future__ import annotations

import pytest
from django_q.brokers import get_broker
from django_q.status import Stat

from inference import tasks
from inference.models import ForecastChunk, ForecastRun, StoredForecast
from performance.services import election
from telemetry.sources import latest_source
from tests.factories import known_version
from tests.integration.redis_server import RedisServer
from tests.integration.workers import Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"


@pytest.fixture
def redis(tmp_path):
    from django_q.conf import Conf

    server = RedisServer(tmp_path)
    original = dict(Conf.__dict__)
    Conf.ORM, Conf.REDIS = None, server.url  # this process queues too: the workers' broker
    yield server
    Conf.ORM, Conf.REDIS = original.get("ORM"), original.get("REDIS")
    server.stop()


def test_two_workers_forecast_each_cell_once(tmp_path, redis, settings, mlflow_server_uri, make_model):
    settings.FORECAST_CHUNK_CELLS = 2
    settings.FORECAST_STORE = "database"
    model = make_model(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                       lookback_steps=4, forecast_steps=3)
    known_version(model, offset=0.25)
    election.field_evaluate(field=FIELD)
    env = dict(Q_BROKER="redis", REDIS_URL=redis.url, FORECAST_CHUNK_CELLS="2", FORECAST_STORE="database",
               FORECAST_SCHEDULE_ENABLED="true", MLFLOW_TRACKING_URI=mlflow_server_uri)
    workers = [Worker(tmp_path, name, CELLWISE_WORKER_NAME=name, **env).start() for name in ("alpha", "beta")]
    try:

        wait_for(lambda: len(Stat.get_all(broker=get_broker())) >= 2, timeout=60, interval=0.5,
                 message="both clusters to be up")
        # Each worker's start-up tasks (the MLflow mirror flush) done, so both are free to take chunks.
        wait_for(lambda: all("(mlflow-mirror-flush-at-start)" in w.log() for w in workers), timeout=60,
                 interval=0.5, message="both workers to finish their start-up tasks")
        # This process schedules too (a second scheduler): whoever claims the slot first runs it.
        outcome = tasks.forecast_tick()
        cells = latest_source().cells()
        run = wait_for(lambda: ForecastRun.objects.filter(field=FIELD).first(), timeout=30, message="a run")
        chunk_ids = list(ForecastChunk.objects.filter(run=run).values_list("id", flat=True))
        from django_q.tasks import async_task

        for chunk_id in chunk_ids:  # every chunk task delivered twice
            async_task("inference.tasks.forecast_chunk", chunk_id)
        wait_for(lambda: ForecastRun.objects.get(id=run.id).status == "done", timeout=120,
                 message=f"the run to finish ({outcome}); logs: {[w.log()[-2000:] for w in workers]}")
        wait_for(lambda: tasks.forecast_tick() == [f"{FIELD}: slot {int(run.origin.timestamp())} already claimed"],
                 timeout=5, message="the slot to stay claimed")
    finally:
        for worker in workers:
            worker.stop()
    run.refresh_from_db()
    assert ForecastRun.objects.filter(field=FIELD).count() == 1
    assert run.chunks == len(chunk_ids) == -(-len(cells) // 2)
    chunks = list(ForecastChunk.objects.filter(run=run))
    assert all(c.status == "done" for c in chunks)
    assert sorted(cell for c in chunks for cell in c.cells) == cells
    assert run.forecasts + run.skipped == len(cells) and run.forecasts == sum(c.forecasts for c in chunks) > 0
    stored = list(StoredForecast.objects.filter(field=FIELD).values_list("cell", "step"))
    assert len(stored) == len(set(stored)) == run.forecasts * 3  # each cell once, every step
    runners = {c.worker.split(":")[0].rpartition("/")[2] for c in chunks}
    assert runners == {"alpha", "beta"}, runners  # both clusters took chunks
