"""Training on real django-q2 worker processes, with the MLflow and S3 servers."""

from __future__ import annotations

import boto3
import pytest
from django.conf import settings as django_settings

from registry.models import ModelConfig, ModelVersion
from tests.integration.workers import Worker, wait_for
from training import services
from training.models import JobStatus, TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracked(settings, mlflow_server_uri, s3_endpoint):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    return settings


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(name: str = "worker") -> Worker:
        worker = Worker(tmp_path, name).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def job(job_id) -> TrainingJob:
    return TrainingJob.objects.select_related("version").get(id=job_id)


def test_a_worker_trains_an_lstm_on_real_data(tracked, workers, make_model, mlflow_server_uri, s3_endpoint):
    from mlflow.tracking import MlflowClient

    model = make_model(architecture="lstm", window_duration_seconds=10, lookback_steps=12, forecast_steps=2,
                       hidden_size=16, epochs=6, patience=6, target_mode="level")
    worker = workers()
    queued = services.training_job_create(model=model, reason="test")
    seen = wait_for(lambda: job(queued.id).status == JobStatus.RUNNING and job(queued.id).epoch >= 1 and job(queued.id),
                    timeout=120, message=f"live progress; worker log:\n{worker.log()[-3000:]}")
    assert seen.total_epochs == 6 and seen.val_loss is not None
    done = wait_for(lambda: job(queued.id).status not in (JobStatus.QUEUED, JobStatus.RUNNING) and job(queued.id),
                    timeout=180, message="the job to end")
    assert done.status == JobStatus.COMPLETED, done.error_message
    assert not ModelConfig.objects.get(id=model.id).is_training
    version = done.version
    # Better than always predicting the training mean of the (scaled) target.
    assert version.metrics["best_val_loss"] < 0.5 * version.metrics["train_mean_val_loss"]
    # The worker's MLflow mirror logs the run right after the job completed.
    done = wait_for(lambda: job(queued.id).mlflow_run_id and job(queued.id), timeout=120,
                    message=f"the MLflow run; worker log:\n{worker.log()[-3000:]}")
    version.refresh_from_db()

    client = MlflowClient(mlflow_server_uri, registry_uri=mlflow_server_uri)
    run = client.get_run(done.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["architecture"] == "lstm" and run.data.params["lookback_steps"] == "12"
    assert int(run.data.params["samples_train"]) > 1000
    history = client.get_metric_history(done.mlflow_run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, done.data_summary["epochs_run"] + 1))
    mlflow_version = client.get_model_version(str(model.id), version.mlflow_version)
    assert mlflow_version.run_id == done.mlflow_run_id

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    location = django_settings.STORAGES["models"]["OPTIONS"]["location"]
    head = s3.head_object(Bucket=django_settings.AWS_STORAGE_BUCKET_NAME, Key=f"{location}/{version.bundle_path}")
    assert head["ContentLength"] > 1000


def long_model(make_model):
    return make_model(architecture="lstm", window_duration_seconds=10, lookback_steps=12, hidden_size=48,
                      epochs=500, patience=100)


def test_cancel_a_running_job_stops_within_an_epoch(tracked, workers, make_model):
    model = long_model(make_model)
    workers()
    queued = services.training_job_create(model=model)
    running = wait_for(lambda: job(queued.id).epoch >= 2 and job(queued.id), timeout=120, message="epoch 2")
    services.training_job_cancel(job=running)
    done = wait_for(lambda: job(queued.id).status == JobStatus.CANCELLED and job(queued.id), timeout=60,
                    message="the cancel")
    assert done.epoch <= job(queued.id).epoch and done.epoch <= running.epoch + 2
    assert done.version is None and not ModelVersion.objects.filter(model=model).exists()
    assert not ModelConfig.objects.get(id=model.id).is_training


def test_a_worker_killed_mid_training_is_recovered_on_the_next_start(tracked, workers, make_model):
    model = long_model(make_model)
    first = workers("first")
    queued = services.training_job_create(model=model)
    wait_for(lambda: job(queued.id).epoch >= 1, timeout=120, message="training to start")
    first.kill()
    assert job(queued.id).status == JobStatus.RUNNING  # nobody ended it
    assert ModelConfig.objects.get(id=model.id).is_training

    second = workers("second")
    failed = wait_for(lambda: job(queued.id).status == JobStatus.FAILED and job(queued.id), timeout=60,
                      message=f"recovery; log:\n{second.log()[-2000:]}")
    assert "died" in failed.error_message
    assert not ModelConfig.objects.get(id=model.id).is_training
    wait_for(lambda: "recovery: failed job" in second.log(), timeout=30, message="the recovery report")
    again = services.training_job_create(model=model)  # the lock is free
    services.training_job_cancel(job=again)
