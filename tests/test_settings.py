"""Settings come from the environment: defaults, every seed variable, bad values."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS = Path(__file__).resolve().parent.parent / "mlops_site" / "settings.py"


def load(monkeypatch, tmp_path, **environ) -> dict:
    """Execute settings.py with exactly these variables (plus a private var dir)."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    monkeypatch.setenv("CELLWISE_VAR_DIR", str(tmp_path))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_nothing_set_gives_the_embedded_defaults(monkeypatch, tmp_path):
    s = load(monkeypatch, tmp_path)
    assert s["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert s["DATABASES"]["default"]["NAME"] == str(tmp_path / "cellwise.sqlite3")
    assert s["Q_CLUSTER"]["orm"] == "default"
    assert s["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert s["MLFLOW_ARTIFACT_LOCATION"] == (tmp_path / "mlartifacts").as_uri()
    assert s["STORAGES"]["models"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert s["TELEMETRY_SOURCE"] == "auto" and s["DATA_STORAGE_API_URL"] is None and s["CLICKHOUSE_DSN"] is None
    monitoring = (s["MONITORING_ENABLED"], s["MONITORING_INTERVAL_SECONDS"], s["MONITORING_DEGRADATION_FACTOR"])
    assert monitoring == (True, 300, 1.5)
    assert (s["API_HOST"], s["API_PORT"], s["ML_PORT"], s["LOG_LEVEL"]) == ("0.0.0.0", 8060, 8060, "INFO")
    assert s["DEBUG"] is False and "*" not in s["ALLOWED_HOSTS"]
    assert "sample_count" in s["DATA_STORAGE_EXCLUDED_FIELDS"]
    # django-q2 hands a task to a second worker after `retry`: it must outlast `timeout`.
    assert s["Q_CLUSTER"]["retry"] > s["Q_CLUSTER"]["timeout"]
    # The generated secret key is kept, so sessions survive a restart.
    assert load(monkeypatch, tmp_path)["SECRET_KEY"] == s["SECRET_KEY"]


def test_every_seed_variable_is_read(monkeypatch, tmp_path):
    s = load(
        monkeypatch, tmp_path,
        MLFLOW_TRACKING_URI="http://mlflow:5000/",
        DATABASE_URL="postgresql://u:p@db:5433/cw",
        DATA_STORAGE_API_URL="http://storage:8000/",
        DATA_STORAGE_DATA_ENDPOINT="/api/v1/processed/latency",
        DATA_STORAGE_EXAMPLE_ENDPOINT="/api/v1/processed/latency/example",
        DATA_STORAGE_CELL_ENDPOINT="/api/v1/cells",
        DATA_STORAGE_EXCLUDED_FIELDS="cell_index, network ,sample_count",
        AWS_ACCESS_KEY_ID="minio", AWS_SECRET_ACCESS_KEY="minio-secret", AWS_S3_ENDPOINT_URL="http://minio:9000",
        MONITORING_ENABLED="false", MONITORING_INTERVAL_SECONDS="60", MONITORING_DEGRADATION_FACTOR="2.5",
        API_HOST="127.0.0.1", API_PORT="9000", ML_PORT="9001", LOG_LEVEL="DEBUG",
    )
    assert s["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert s["MLFLOW_ARTIFACT_LOCATION"] is None  # the server chooses
    db = s["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"], db["USER"]) == (
        "django.db.backends.postgresql", "db", 5433, "cw", "u")
    assert s["DATA_STORAGE_API_URL"] == "http://storage:8000"
    assert s["DATA_STORAGE_DATA_ENDPOINT"] == "/api/v1/processed/latency"
    assert s["DATA_STORAGE_EXAMPLE_ENDPOINT"] == "/api/v1/processed/latency/example"
    assert s["DATA_STORAGE_CELL_ENDPOINT"] == "/api/v1/cells"
    assert s["DATA_STORAGE_EXCLUDED_FIELDS"] == ["cell_index", "network", "sample_count"]
    options = s["STORAGES"]["models"]["OPTIONS"]
    assert s["STORAGES"]["models"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert (options["endpoint_url"], options["access_key"], options["secret_key"]) == (
        "http://minio:9000", "minio", "minio-secret")
    monitoring = (s["MONITORING_ENABLED"], s["MONITORING_INTERVAL_SECONDS"], s["MONITORING_DEGRADATION_FACTOR"])
    assert monitoring == (False, 60, 2.5)
    assert (s["API_HOST"], s["API_PORT"], s["ML_PORT"], s["LOG_LEVEL"]) == ("127.0.0.1", 9000, 9001, "DEBUG")


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("API_PORT", "eighty", "must be an integer"),
        ("API_PORT", "70000", "at most 65535"),
        ("MONITORING_ENABLED", "maybe", "true or false"),
        ("MONITORING_DEGRADATION_FACTOR", "0.5", "at least 1.0"),
        ("MONITORING_INTERVAL_SECONDS", "1.5", "must be an integer"),
        ("HISTORY_RETENTION_DAYS", "-1", "at least 0"),
        ("DATABASE_URL", "mysql://db/x", "sqlite:/// or postgresql://"),
        ("MLFLOW_TRACKING_URI", "mlflow:5000", "must be a URL"),
        ("TELEMETRY_SOURCE", "kafka", "must be one of"),
        ("LOG_LEVEL", "LOUD", "must be one of"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.local", "'proxy.local' is not an IP address"),
        ("TOKEN_RATE_LIMIT", "10 per minute", "must be a rate"),
        ("LOGIN_RATE_LIMIT", "0/m", "must be a rate"),
        ("ADMISSION_MAX_CONCURRENT", "16", "must be below WEB_THREADS"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch, tmp_path, variable, value, problem):
    with pytest.raises(ImproperlyConfigured) as error:
        load(monkeypatch, tmp_path, **{variable: value})
    assert variable in str(error.value) and problem in str(error.value)


def test_client_addresses_and_sign_in_limits(monkeypatch, tmp_path):
    s = load(monkeypatch, tmp_path)
    assert (s["TRUSTED_PROXIES"], s["TOKEN_RATE_LIMIT"], s["LOGIN_RATE_LIMIT"]) == ([], (10, 60), (10, 60))
    s = load(monkeypatch, tmp_path, TRUSTED_PROXIES="10.0.0.0/8, 2001:db8::1", TOKEN_RATE_LIMIT="100/h",
             LOGIN_RATE_LIMIT="5/30s")
    assert (s["TRUSTED_PROXIES"], s["TOKEN_RATE_LIMIT"], s["LOGIN_RATE_LIMIT"]) == (
        ["10.0.0.0/8", "2001:db8::1"], (100, 3600), (5, 30))


def test_a_bad_value_stops_start_up(tmp_path):
    env = {"PATH": os.environ["PATH"], "CELLWISE_VAR_DIR": str(tmp_path), "MONITORING_INTERVAL_SECONDS": "soon"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=SETTINGS.parent.parent, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "MONITORING_INTERVAL_SECONDS='soon': must be an integer" in result.stderr


def test_the_mlflow_client_writes_artifacts_to_the_bundle_s3_unless_told(monkeypatch, tmp_path):
    s = load(monkeypatch, tmp_path, AWS_S3_ENDPOINT_URL="http://minio:9000")
    assert s["MLFLOW_S3_ENDPOINT_URL"] == os.environ["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    s = load(monkeypatch, tmp_path, AWS_S3_ENDPOINT_URL="http://minio:9000", MLFLOW_S3_ENDPOINT_URL="http://s3:9100/")
    assert s["MLFLOW_S3_ENDPOINT_URL"] == "http://s3:9100" and os.environ["MLFLOW_S3_ENDPOINT_URL"] == "http://s3:9100/"
