import pytest

pytestmark = pytest.mark.django_db


def test_health_reports_each_dependency_with_latency(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert set(checks) == {"database", "broker", "mlflow", "storage", "data_source", "clickhouse"}
    assert {name for name, c in checks.items() if c["required"]} == {"database", "broker"}
    assert checks["database"]["status"] == "up" and checks["data_source"]["detail"] == "embedded dataset"
    assert all(isinstance(c["latency_ms"], float) for c in checks.values())
