"""GET /metrics after a real training run, an evaluation and some inferences."""

from __future__ import annotations

import re
import socket

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from performance.models import FieldMonitor, MonitorState
from performance.services import election
from tests.factories import known_version
from tests.integration.workers import Worker, wait_for
from training import pipeline, services as training_services

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-key"})
    assert response.status_code == 200, response.content
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values, name: str, **labels) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_jobs_inferences_and_evaluations(client, api, settings, make_model, mlflow_server_uri):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    settings.METRICS_KEY = "scrape-key"
    assert client.get("/metrics").status_code == 401
    before = scrape(client)
    model = make_model(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                       lookback_steps=12, forecast_steps=2, epochs=2)
    assert pipeline.run(training_services.training_job_create(model=model).id) == "completed"
    assert api.post(f"/performance/{FIELD}/evaluate").status_code == 200
    for _ in range(3):
        assert api.post("/inference", {"output_field": FIELD, "cell_id": 11016973}).status_code == 200
    after = scrape(client)

    assert value(after, "cellwise_training_jobs", status="completed") == 1
    assert value(after, "cellwise_training_jobs", status="running") == 0
    assert value(after, "cellwise_monitors", state="monitoring") == 1
    assert ("cellwise_queue_depth", ()) in after and ("cellwise_monitor_checks_due", ()) in after
    inferences = "cellwise_inferences_total"
    labels = {"model": str(model.id), "field": FIELD}
    assert value(after, inferences, **labels) - value(before, inferences, **labels) == 3
    count = "cellwise_inference_seconds_count"
    assert value(after, count, field=FIELD) - value(before, count, field=FIELD) == 3
    evaluations = "cellwise_evaluation_seconds_count"
    labels = {"field": FIELD, "trigger": "evaluate"}
    assert value(after, evaluations, **labels) - value(before, evaluations, **labels) == 1
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-key"}).content.decode()
    assert re.search(r'cellwise_inference_seconds_bucket\{field="sinr_mean",le="0.01"\}', text)


def test_the_web_endpoint_adds_up_what_a_worker_process_measured(client, settings, make_model, s3_endpoint,
                                                                  tmp_path, monkeypatch):
    """Web and worker share PROMETHEUS_MULTIPROC_DIR (a volume in compose): an evaluation run by
    the monitoring loop on a worker shows on the web's /metrics."""
    settings.METRICS_KEY = "scrape-key"
    shared = tmp_path / "prometheus"
    shared.mkdir()
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                       forecast_steps=1)
    known_version(model)
    election.field_evaluate(field=FIELD)  # in this process: not in the shared directory
    FieldMonitor.objects.update(state=MonitorState.EVALUATING, next_check_at=timezone.now())
    worker = Worker(tmp_path, "metrics", PROMETHEUS_MULTIPROC_DIR=str(shared), MONITORING_ENABLED="true").start()
    try:
        wait_for(lambda: FieldMonitor.objects.get(field=FIELD).state == MonitorState.MONITORING, timeout=90,
                 message=f"the worker to evaluate; log:\n{worker.log()[-3000:]}")
    finally:
        worker.stop()

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))  # what the web process of the stack has
    values = scrape(client)
    assert value(values, "cellwise_evaluation_seconds_count", field=FIELD, trigger="auto_evaluate") == 1
    assert value(values, "cellwise_monitors", state="monitoring") == 1  # the database gauges still come along
    host = socket.gethostname()
    assert any(f.name.startswith(f"histogram_{host}-") for f in shared.iterdir())  # no pid clash across hosts
