"""End to end on the bundled real data: train an ANN and an LSTM for one field, evaluate,
forecast a cell with the elected best, and read the seed's tags on the real MLflow server."""

from __future__ import annotations

import pytest

from registry import mirror
from training import pipeline, services as training_services

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"


def test_train_evaluate_forecast_and_mirror_tags(settings, mlflow_server_uri, s3_endpoint, api, make_model):
    from mlflow.tracking import MlflowClient

    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    spec = dict(input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"], output_fields=[FIELD],
                window_duration_seconds=10, lookback_steps=12, forecast_steps=3, hidden_size=16, epochs=4)
    ann, lstm = make_model(architecture="ann", **spec), make_model(architecture="lstm", **spec)
    for model in (ann, lstm):
        job = training_services.training_job_create(model=model)
        assert pipeline.run(job.id) == "completed"

    evaluation = api.post(f"/performance/{FIELD}/evaluate?metric=rmse").json()
    results = evaluation["results"]
    assert {r["model_name"] for r in results} == {ann.name, lstm.name}
    assert all(r["score"] is not None and r["baselines"]["persistence"] is not None for r in results)
    assert all(r["samples"] > 500 for r in results)
    winner = results[0]
    assert winner["rank"] == 1 and winner["elected"] and evaluation["best"]["model_id"] == winner["model_id"]
    loser = results[1]

    forecast = api.post("/inference", {"output_field": FIELD, "cell_id": 11016973})
    assert forecast.status_code == 200, forecast.content
    assert forecast.json()["model_id"] == winner["model_id"] and len(forecast.json()["predictions"]) == 3

    assert mirror.flush().pending == 0
    client = MlflowClient(mlflow_server_uri, registry_uri=mlflow_server_uri)
    tags = client.get_registered_model(winner["model_id"]).tags
    assert tags[f"best_for:{FIELD}"] == "true"
    assert float(tags[f"baseline_score:{FIELD}"]) == pytest.approx(winner["score"])
    assert float(tags[f"score_for:{FIELD}"]) == pytest.approx(winner["score"])
    assert tags[f"eval_metric:{FIELD}"] == "rmse" and tags[f"eval_at:{FIELD}"]
    loser_tags = client.get_registered_model(loser["model_id"]).tags
    assert f"best_for:{FIELD}" not in loser_tags
    assert float(loser_tags[f"score_for:{FIELD}"]) == pytest.approx(loser["score"])

    # Override to the loser: tags move with the election.
    api.post(f"/performance/{FIELD}/set-best/{loser['model_id']}")
    mirror.flush()
    assert f"best_for:{FIELD}" not in client.get_registered_model(winner["model_id"]).tags
    assert client.get_registered_model(loser["model_id"]).tags[f"best_for:{FIELD}"] == "true"

    history = api.get(f"/performance/{FIELD}/history").json()
    assert history["count"] == 2 and {h["trigger"] for h in history["items"]} == {"evaluate"}


def test_the_linear_architecture_goes_the_whole_way(settings, mlflow_server_uri, s3_endpoint, api, make_model):
    from mlflow.tracking import MlflowClient

    from registry.models import ModelVersion
    from training.bundle import load_bundle

    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    model = make_model(architecture="linear", input_fields=["sinr_mean", "rsrp_mean", "cqi_mean"],
                       output_fields=[FIELD], window_duration_seconds=10, lookback_steps=12, forecast_steps=3)
    job = training_services.training_job_create(model=model)
    assert job.total_epochs == 1
    assert pipeline.run(job.id) == "completed"
    assert mirror.flush().pending == 0
    version = ModelVersion.objects.get(model=model)
    assert load_bundle(version.bundle_path).architecture == "linear"
    client = MlflowClient(mlflow_server_uri, registry_uri=mlflow_server_uri)
    run = client.get_run(version.mlflow_run_id)
    assert run.data.params["architecture"] == "linear" and "val_loss" in run.data.metrics
    assert client.get_model_version(str(model.id), version.mlflow_version).run_id == version.mlflow_run_id

    evaluation = api.post(f"/performance/{FIELD}/evaluate").json()
    record = evaluation["results"][0]
    assert record["model_id"] == str(model.id) and record["score"] is not None
    assert {c["name"] for c in evaluation["challengers"]} == {"persistence", "lookback_mean"}
    assert isinstance(evaluation["below_naive"], bool)
    forecast = api.post("/inference", {"output_field": FIELD, "cell_id": 11016973})
    assert forecast.status_code == 200 and forecast.json()["architecture"] == "linear"
