"""Training while the MLflow server is stopped: MLflow is a mirror, so the job completes and its
version serves at once; the run, the logged model and the registered version appear once the
server is back (a private `mlflow server` process, stopped and started again; nothing patched)."""

from __future__ import annotations

import pytest

from registry import mirror
from registry.models import MlflowOutbox, ModelVersion
from tests.integration.processes import mlflow
from tests.integration.redis_server import free_port
from training import pipeline, services
from training.models import JobStatus, TrainingJob
from training.tracking import JOB_TAG

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"
CELL = 11016973


@pytest.fixture
def tracking_server(tmp_path, settings, monkeypatch, mlflow_server_uri, s3_endpoint):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # down means down, at once
    # mlflow.set_tracking_uri (called when a run is logged) also exports MLFLOW_TRACKING_URI:
    # give the next tests the session's server back.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server_uri)
    server = mlflow(tmp_path).start()
    settings.MLFLOW_TRACKING_URI = server.url
    yield server
    server.stop()
    import mlflow as mlflow_client_library

    mlflow_client_library.set_tracking_uri(mlflow_server_uri)
    mlflow_client_library.set_registry_uri(mlflow_server_uri)


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def runs_of(uri: str, job_id) -> list:
    experiments = [e.experiment_id for e in client(uri).search_experiments()]
    return client(uri).search_runs(experiments, filter_string=f"tags.`{JOB_TAG}` = '{job_id}'")


def test_a_job_completes_with_mlflow_down_and_mlflow_catches_up(tracking_server, api, make_model):
    model = make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                       lookback_steps=12, forecast_steps=2, epochs=2)
    assert mirror.flush().pending == 0  # the registered model exists before the outage
    tracking_server.stop()

    job = services.training_job_create(model=model)
    assert pipeline.run(job.id) == "completed"
    job = TrainingJob.objects.select_related("version").get(id=job.id)
    assert job.status == JobStatus.COMPLETED and job.error_message == ""
    version = job.version
    assert (version.mlflow_run_id, version.mlflow_version) == ("", "")
    paused = mirror.flush()
    assert paused.applied == 0 and paused.pending == 1 and paused.error
    pending = MlflowOutbox.objects.get()
    assert pending.operation == "log_training_run" and pending.attempts == 1

    forecast = api.post("/inference", {"output_field": FIELD, "cell_id": CELL, "model_id": str(model.id)})
    assert forecast.status_code == 200, forecast.content
    assert forecast.json()["version"] == 1
    shown = api.get(f"/training/jobs/{job.id}").json()
    assert shown["status"] == "completed" and shown["mlflow_mirror"] == "pending" and shown["mlflow_run_id"] == ""
    assert api.get(f"/models/{model.id}").json()["mlflow_mirror"] == "pending"

    tracking_server.start()  # the same port, the same store
    assert mirror.flush().pending == 0
    version.refresh_from_db()
    runs = runs_of(tracking_server.url, job.id)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert version.mlflow_run_id == run.info.run_id and version.mlflow_version == "1"
    assert run.data.params["architecture"] == "ann" and "val_loss" in run.data.metrics
    assert [m.step for m in client(tracking_server.url).get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
    registered = client(tracking_server.url).get_model_version(str(model.id), "1")
    assert registered.run_id == run.info.run_id
    shown = api.get(f"/training/jobs/{job.id}").json()
    assert shown["mlflow_mirror"] == "synced" and shown["mlflow_run_id"] == run.info.run_id
    assert api.get(f"/models/{model.id}").json()["mlflow_mirror"] == "synced"

    # A flush that died after MLflow applied the row (before deleting it) replays it: still one of each.
    MlflowOutbox.objects.create(operation=pending.operation, model_id=model.id, payload=pending.payload)
    assert mirror.flush().pending == 0
    assert len(runs_of(tracking_server.url, job.id)) == 1
    assert len(client(tracking_server.url).search_model_versions(f"name = '{model.id}'")) == 1
    assert ModelVersion.objects.get(id=version.id).mlflow_run_id == run.info.run_id


def test_a_model_deleted_before_mlflow_caught_up_leaves_nothing_to_log(settings, monkeypatch, mlflow_server_uri,
                                                                        api, make_model):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    model = make_model(epochs=1)
    job = services.training_job_create(model=model)
    assert pipeline.run(job.id) == "completed"
    assert api.delete(f"/models/{model.id}").status_code == 204
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    assert mirror.flush().pending == 0  # create, log (its version is gone: nothing to log), delete
    assert runs_of(mlflow_server_uri, job.id) == []
