"""The registry mirror against the real MLflow tracking server (PostgreSQL + S3 behind it)."""

from __future__ import annotations

import socket

import pytest
from django.core.management import call_command

from registry import mirror, services
from registry.models import MlflowOutbox, ModelConfig

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def spec(name: str) -> dict:
    return dict(name=name, architecture="ann", input_fields=["rsrp_mean"], output_fields=["rsrp_mean"],
                window_duration_seconds=60, lookback_steps=6, forecast_steps=1)


def mlflow_client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def registered(uri: str, model_id) -> dict | None:
    from mlflow.exceptions import MlflowException

    try:
        return dict(mlflow_client(uri).get_registered_model(str(model_id)).tags)
    except MlflowException as error:
        assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
        return None


@pytest.fixture
def dead_uri(monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_registered_model_is_created_and_deleted(mlflow_server_uri, settings, user):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    model = services.model_config_create(**spec("mirror-roundtrip"), user=user)
    result = mirror.flush()
    assert (result.applied, result.pending, result.error) == (1, 0, "")
    assert registered(mlflow_server_uri, model.id) == {"name": "mirror-roundtrip", "architecture": "ann"}

    services.model_config_delete(model=model, user=user)
    assert mirror.flush().applied == 1
    assert registered(mlflow_server_uri, model.id) is None
    assert mirror.flush().applied == 0  # nothing left, nothing repeated


def test_mlflow_down_never_fails_the_registry_and_reconcile_catches_up(mlflow_server_uri, dead_uri, settings, api):
    settings.MLFLOW_TRACKING_URI = dead_uri
    first = api.post("/models", spec("mirror-down-1"))
    second = api.post("/models", spec("mirror-down-2"))
    assert first.status_code == second.status_code == 201
    assert first.json()["mlflow_mirror"] == "pending"
    result = mirror.flush()
    assert result.applied == 0 and result.pending == 2 and result.error
    assert MlflowOutbox.objects.order_by("id").first().attempts == 1
    assert api.delete(f"/models/{first.json()['id']}").status_code == 204  # still works while MLflow is down
    assert not ModelConfig.objects.filter(id=first.json()["id"]).exists()

    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    call_command("reconcile_mlflow")
    assert not MlflowOutbox.objects.exists()
    assert registered(mlflow_server_uri, first.json()["id"]) is None
    assert registered(mlflow_server_uri, second.json()["id"])["name"] == "mirror-down-2"
    assert api.get(f"/models/{second.json()['id']}").json()["mlflow_mirror"] == "synced"


def test_replaying_an_applied_operation_is_harmless(mlflow_server_uri, settings, user):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    model = services.model_config_create(**spec("mirror-twice"), user=user)
    row = MlflowOutbox.objects.get()
    mirror.flush()
    MlflowOutbox.objects.create(operation=row.operation, model_id=row.model_id, payload=row.payload)
    assert mirror.flush().applied == 1  # "already exists" counts as done
    services.model_config_delete(model=model, user=user)
    MlflowOutbox.objects.create(operation="delete_model", model_id=model.id)
    assert mirror.flush().applied == 2  # "does not exist" counts as done


def test_only_one_flush_runs_at_a_time(settings, mlflow_server_uri, user):
    """Another process's flush is simulated by a thread (its own connection) holding the lock."""
    import threading

    from django.db import connections

    from core.locks import only_one

    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    services.model_config_create(**spec("mirror-locked"), user=user)
    holding, release = threading.Event(), threading.Event()

    def other_flusher():
        try:
            with only_one("mlflow-mirror") as held:
                assert held
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_flusher)
    thread.start()
    assert holding.wait(30)
    busy = mirror.flush()
    release.set()
    thread.join(30)
    assert (busy.applied, busy.pending, busy.error) == (0, 1, "another flush is running")
    assert mirror.flush().applied == 1
