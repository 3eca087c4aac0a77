"""The monitoring loop on real django-q2 workers (schedule + retraining hooks), with the
bundled data drifting, the MLflow server and the S3 server."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from performance.models import FieldMonitor, MonitorEvent, ScoreRecord
from performance.services import election
from registry import mirror
from registry.models import FieldBest, ModelVersion
from telemetry import drift
from telemetry.sources import history_source
from tests.integration.workers import Worker, wait_for
from training import pipeline, services as training_services
from training.models import TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"
WORKER_ENV = {"MONITORING_ENABLED": "true", "MONITORING_INTERVAL_SECONDS": "10"}


@pytest.fixture
def drifting_field(settings, mlflow_server_uri, s3_endpoint, make_model):
    """Two trained models for sinr_mean, elected, then the recent data turns noisy."""
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    spec = dict(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                lookback_steps=6, forecast_steps=1, hidden_size=8, epochs=2)
    models = [make_model(architecture="ann", **spec), make_model(architecture="linear", **spec)]
    for model in models:
        assert pipeline.run(training_services.training_job_create(model=model).id) == "completed"
    election.field_evaluate(field=FIELD)
    source = history_source()
    drift.write(settings.VAR_DIR / "drift.json",
                [drift.Drift(kpi="sinr", since=source.now() - settings.EVALUATION_SPAN_SECONDS, noise=8.0)])
    FieldMonitor.objects.update(next_check_at=timezone.now())
    yield models
    (settings.VAR_DIR / "drift.json").unlink(missing_ok=True)


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(tmp_path, name, **{**WORKER_ENV, **env}).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def follow(api, until, timeout: float, worker: Worker) -> list[str]:
    """Poll the status endpoint; return the distinct states seen, in order."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/performance/{FIELD}/status").json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if until(seen):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"states seen: {seen}; worker log:\n{worker.log()[-4000:]}")


def back_to_monitoring(seen: list[str]) -> bool:
    return "retraining" in seen and seen[-1] == "monitoring"


def test_a_degraded_field_retrains_and_reelects_by_itself(drifting_field, workers, api, mlflow_server_uri):
    from mlflow.tracking import MlflowClient

    models = drifting_field
    before = FieldBest.objects.get(field=FIELD)
    worker = workers("loop", Q_WORKERS="2")
    seen = follow(api, back_to_monitoring, 300, worker)
    assert seen[:2] == ["monitoring", "retraining"]  # EVALUATING lasts one tick: a poll may miss it

    for model in models:
        assert ModelVersion.objects.filter(model=model).count() == 2  # every model retrained
    after = FieldBest.objects.get(field=FIELD)
    assert after.elected_by == "auto_evaluate" and after.elected_at > before.elected_at
    assert after.version.version == 2 and after.baseline_score > before.baseline_score
    triggers = list(ScoreRecord.objects.filter(field=FIELD).values_list("trigger", flat=True))
    assert "auto_monitor" in triggers and triggers.count("auto_evaluate") == 2
    transitions = list(MonitorEvent.objects.filter(kind="transition").values_list("from_state", "to_state"))
    assert transitions == [("monitoring", "retraining"), ("retraining", "evaluating"), ("evaluating", "monitoring")]

    # The worker may be flushing right now (one flusher at a time): wait until the outbox drains.
    wait_for(lambda: mirror.flush().pending == 0, timeout=30, message="the MLflow outbox to drain")
    client = MlflowClient(mlflow_server_uri, registry_uri=mlflow_server_uri)
    tags = client.get_registered_model(str(after.model_id)).tags
    assert tags[f"best_for:{FIELD}"] == "true"
    assert float(tags[f"baseline_score:{FIELD}"]) == pytest.approx(after.baseline_score)


def test_the_loop_finishes_after_a_worker_restart_mid_retraining(drifting_field, workers, api):
    first = workers("first", Q_WORKERS="1")
    follow(api, lambda seen: seen[-1] == "retraining", 180, first)
    waiting = wait_for(lambda: FieldMonitor.objects.get(field=FIELD).waiting_job_ids, timeout=10, message="jobs")
    # Killed mid-job, so the next worker has something to recover (a job still in the broker needs nothing).
    wait_for(lambda: TrainingJob.objects.filter(id__in=waiting, status="running").exists(), timeout=120,
             message="a retraining job running")
    first.kill()
    second = workers("second", Q_WORKERS="1")
    seen = follow(api, lambda s: s[-1] == "monitoring", 300, second)
    assert seen[-1] == "monitoring"
    assert "recovery:" in second.log()
    last = MonitorEvent.objects.filter(kind="transition").last()
    assert (last.from_state, last.to_state) in {("evaluating", "monitoring"), ("retraining", "monitoring")}
    assert FieldMonitor.objects.get(field=FIELD).waiting_job_ids == []
