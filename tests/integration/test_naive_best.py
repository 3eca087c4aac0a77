"""A field whose learned models all lose elects a naive forecaster (persistence or the lookback
mean, whichever scores better on the evaluation span) and serves it, through the
API, with PostgreSQL, the S3 server and the MLflow server; a learned model that beats it
takes the field back."""

from __future__ import annotations

import pytest

from registry import mirror
from telemetry.sources import latest_source
from tests.factories import known_version
from training import pipeline, services as training_services

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"
CELL = 11016973  # its latest 12 windows of 10 s are complete
SPEC = dict(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
            lookback_steps=12, forecast_steps=2)


def test_a_naive_winner_is_served_then_a_better_learned_model_takes_over(settings, mlflow_server_uri, s3_endpoint,
                                                                          api, make_model):
    from mlflow.tracking import MlflowClient

    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    biased = make_model(architecture="ann", **SPEC)
    known_version(biased, offset=3.0)  # the last value + 3 dB: loses to persistence everywhere
    persistence = api.post("/models", {"name": "sinr-persistence", "architecture": "persistence", **SPEC})
    assert persistence.status_code == 201, persistence.content
    mean = make_model(architecture="lookback_mean", **SPEC)
    for model_id in (persistence.json()["id"], str(mean.id)):
        job = training_services.training_job_create(model=type(mean).objects.get(id=model_id))
        assert job.total_epochs == 1
        assert pipeline.run(job.id) == "completed"  # nothing to fit: the job completes at once

    evaluation = api.post(f"/performance/{FIELD}/evaluate").json()
    best = evaluation["best"]
    naive_ids = {persistence.json()["id"]: "persistence", str(mean.id): "lookback_mean"}
    assert best["model_id"] in naive_ids, evaluation["results"]
    winner = naive_ids[best["model_id"]]
    assert best["architecture"] == winner and best["naive"] is True and best["below_naive"] is False
    learned = next(r for r in evaluation["results"] if r["model_id"] == str(biased.id))
    assert learned["score"] > best["baseline"]
    # The naive models score exactly what scoring's naive forecasters scored on the same samples.
    assert best["baseline"] == pytest.approx(min(learned["baselines"]["persistence"],
                                                 learned["baselines"]["lookback_mean"]), rel=1e-5)
    assert best["baseline"] == pytest.approx(learned["baselines"][winner], rel=1e-5)

    forecast = api.post("/inference", {"output_field": FIELD, "cell_id": CELL})
    assert forecast.status_code == 200, forecast.content
    body = forecast.json()
    assert body["model_id"] == best["model_id"] and body["naive"] is True
    lookback = latest_source().latest_windows(cell_index=CELL, window_seconds=10, count=12, fields=[FIELD])
    expected = float(lookback.column(FIELD)[-1] if winner == "persistence" else lookback.column(FIELD).mean())
    assert [p["values"][FIELD] for p in body["predictions"]] == [pytest.approx(expected, abs=1e-4)] * 2

    monitored = api.post(f"/performance/{FIELD}/monitor")  # the loop's check treats it like any best
    assert monitored.status_code == 200 and monitored.json()["score"] == pytest.approx(best["baseline"])

    assert mirror.flush().pending == 0
    client = MlflowClient(mlflow_server_uri, registry_uri=mlflow_server_uri)
    tags = client.get_registered_model(best["model_id"]).tags
    assert tags[f"best_for:{FIELD}"] == "true" and tags[f"best_is_naive:{FIELD}"] == "true"

    linear = make_model(architecture="linear", input_fields=["sinr_mean", "rsrp_mean", "cqi_mean", "rsrq_mean"],
                        output_fields=[FIELD], window_duration_seconds=10, lookback_steps=12, forecast_steps=2)
    assert pipeline.run(training_services.training_job_create(model=linear).id) == "completed"
    evaluation = api.post(f"/performance/{FIELD}/evaluate").json()
    assert evaluation["best"]["model_id"] == str(linear.id), evaluation["results"]
    assert evaluation["best"]["naive"] is False
    assert api.post("/inference", {"output_field": FIELD, "cell_id": CELL}).json()["naive"] is False
    mirror.flush()
    assert client.get_registered_model(str(linear.id)).tags[f"best_is_naive:{FIELD}"] == "false"
    assert f"best_is_naive:{FIELD}" not in client.get_registered_model(best["model_id"]).tags


def test_a_lookback_mean_model_needs_its_outputs_among_its_inputs(api):
    response = api.post("/models", {"name": "mean", "architecture": "lookback_mean", **SPEC,
                                    "input_fields": ["rsrp_mean"]})
    assert response.status_code == 422 and "must also be an input (missing: sinr_mean)" in response.json()["detail"]
