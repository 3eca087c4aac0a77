import socket

import pytest

pytestmark = pytest.mark.django_db


def test_health_reports_each_dependency(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "up" and checks["database"]["required"] is True
    assert checks["data_source"] == {**checks["data_source"], "status": "up", "detail": "embedded dataset"}
    assert set(checks) == {"database", "mlflow", "data_source"}


def test_mlflow_down_degrades_but_does_not_fail(client, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{s.getsockname()[1]}"
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["mlflow"]["status"] == "down"


def test_database_down_is_503(client, monkeypatch):
    from mlops_site import health

    def broken():
        raise RuntimeError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", (broken, True))
    response = client.get("/v1/health")
    assert response.status_code == 503 and response.json()["status"] == "down"
