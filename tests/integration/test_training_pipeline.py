"""A training job run in this process on the bundled real data, against the real MLflow server
and the S3 server: what it writes, and how it fails."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from django.core.files.storage import storages

from registry import mirror
from registry.models import MlflowOutbox, ModelConfig, ModelVersion
from training import pipeline, services
from training.bundle import load_bundle
from training.models import JobEvent, JobStatus, TrainingJob
from training.sequences import Scaler, targets, time_split

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracked(settings, mlflow_server_uri, s3_endpoint):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    assert settings.STORAGES["models"]["OPTIONS"]["endpoint_url"] == s3_endpoint  # bundles go to the S3 server
    return settings


def test_a_job_trains_and_writes_bundle_version_and_run(tracked, make_model):
    model = make_model(architecture="ann", epochs=4, target_mode="level")
    job = services.training_job_create(model=model, reason="test")
    assert pipeline.run(job.id) == "completed"

    job.refresh_from_db()
    version = ModelVersion.objects.get(model=model)
    assert job.status == JobStatus.COMPLETED and job.version_id == version.id and job.epoch >= 1
    assert not ModelConfig.objects.get(id=model.id).is_training
    assert version.version == 1 and version.mlflow_pending  # MLflow catches up through the outbox
    summary = job.data_summary
    assert summary["cells_used"] > 5
    assert summary["samples"] == summary["samples_train"] + summary["samples_val"] + summary["samples_purged"]
    # One training sample per validated cell purged at its boundary (forecast − 1 = 1).
    assert 0 < summary["samples_purged"] <= summary["cells_used"] * (model.forecast_steps - 1)
    assert [e.epoch for e in job.epochs.all()] == list(range(1, summary["epochs_run"] + 1))  # the curve, appended
    assert storages["models"].exists(version.bundle_path)
    assert [e.kind for e in JobEvent.objects.filter(job_id=job.id)] == ["queued", "started", "completed"]

    assert mirror.flush().pending == 0
    job.refresh_from_db()
    version.refresh_from_db()
    assert version.mlflow_version == "1" and version.mlflow_run_id == job.mlflow_run_id != ""
    assert [e.kind for e in JobEvent.objects.filter(job_id=job.id)][-1] == "mlflow_logged"

    # The scalers were fitted on the training split only.
    bundle = load_bundle(version.bundle_path)
    data = pipeline.fetch_samples(model, lookback_seconds=job.lookback_seconds)
    train, _ = time_split(data.samples, model.validation_fraction)
    np.testing.assert_allclose(bundle.feature_scaler.mean, Scaler.fit(train.x).mean, rtol=1e-6)
    np.testing.assert_allclose(bundle.target_scaler.mean, Scaler.fit(targets(train, "level")).mean, rtol=1e-6)
    assert not np.allclose(bundle.feature_scaler.mean, Scaler.fit(data.samples.x).mean, rtol=1e-6)


def test_a_second_version_counts_up(tracked, make_model):
    model = make_model(epochs=1)
    for expected in (1, 2):
        job = services.training_job_create(model=model)
        assert pipeline.run(job.id) == "completed"
        assert TrainingJob.objects.get(id=job.id).version.version == expected


def test_data_source_down_fails_readably_and_frees_the_lock(tracked, make_model):
    model = make_model()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        tracked.DATA_STORAGE_API_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    tracked.TELEMETRY_SOURCE = "data_storage"
    tracked.BACKGROUND_RETRIES = 1  # training fetches use the patient profile
    tracked.BACKGROUND_BACKOFF_SECONDS = 0.01
    job = services.training_job_create(model=model)
    assert pipeline.run(job.id) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("Data Storage API is unavailable: cannot connect")
    assert not ModelConfig.objects.get(id=model.id).is_training and not ModelVersion.objects.exists()


def test_too_little_data_says_how_much_there_was_and_is_needed(tracked, make_model):
    model = make_model(window_duration_seconds=3600, lookback_steps=200, forecast_steps=5)
    job = services.training_job_create(model=model)
    assert pipeline.run(job.id) == "failed"
    message = TrainingJob.objects.get(id=job.id).error_message
    assert "not enough data" in message and "needs 205 contiguous windows" in message and "windows of 3600 s" in message
    assert not ModelConfig.objects.get(id=model.id).is_training


def test_a_cancel_after_the_last_epoch_wins_and_leaves_nothing(tracked, make_model, monkeypatch):
    """The operator presses cancel while the bundle is being written (after the last epoch)."""
    from training import bundle as bundle_module

    model = make_model(epochs=1)
    job = services.training_job_create(model=model)
    real_save = bundle_module.save_bundle

    def save_then_cancel(bundle, key):
        saved = real_save(bundle, key)
        services.training_job_cancel(job=TrainingJob.objects.get(id=job.id))
        return saved

    monkeypatch.setattr(pipeline, "save_bundle", save_then_cancel)
    assert pipeline.run(job.id) == "cancelled"
    assert TrainingJob.objects.get(id=job.id).status == JobStatus.CANCELLED
    assert not ModelVersion.objects.exists() and not ModelConfig.objects.get(id=model.id).is_training
    assert storages["models"].listdir(f"models/{model.id}") == ([], [])
    assert not MlflowOutbox.objects.filter(operation="log_training_run").exists()  # no run will be logged
