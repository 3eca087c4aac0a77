"""docker-compose.yml cannot run here (no Docker), so its structure is checked: the services,
health checks and restart policies, a scalable worker, and that every variable it uses is in
.env.example and read by settings (or is a documented container password)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ENV_EXAMPLE = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
SETTINGS = (ROOT / "mlops_site" / "settings.py").read_text()
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "CLICKHOUSE_PASSWORD"}  # container passwords, not Django settings


def test_services_health_checks_and_restarts():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "minio", "minio-buckets", "mlflow", "clickhouse", "web", "worker",
                             "prometheus"}
    for name, service in services.items():
        if name != "minio-buckets":  # a one-shot job
            assert service.get("restart") == "unless-stopped", name
        if name not in ("minio-buckets", "worker"):
            assert "healthcheck" in service, name
    assert services["web"]["build"] == "." and services["worker"]["build"] == "."
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]  # --scale worker=N
    assert services["worker"]["command"] == ["worker"] and services["web"]["command"] == ["web"]
    assert services["web"]["environment"]["Q_BROKER"] == "redis"  # workers on several machines share it
    assert "--artifacts-destination s3://mlflow/artifacts" in services["mlflow"]["command"]
    assert "postgresql+psycopg://" in services["mlflow"]["command"]
    init = (ROOT / "scripts" / "compose" / "clickhouse-init.sql").read_text()
    assert "analytics.processed_latency" in init and "metrics Map(String, Float64)" in init


def test_ports_and_stop_grace():
    """The web listens on API_PORT inside and outside; the worker's jobs stop before Docker kills it."""
    web = COMPOSE["services"]["web"]
    assert web["ports"] == ["${API_PORT:-8060}:${API_PORT:-8060}"] and "API_PORT" in web["healthcheck"]["test"][-1]
    grace = COMPOSE["services"]["worker"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) > float(ENV_EXAMPLE["WORKER_STOP_GRACE_SECONDS"])


def test_every_variable_is_documented_and_read():
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z_0-9]+)(?::-[^}]*)?\}", text))
    assert interpolated, "the compose file uses no variables?"
    assert interpolated <= set(ENV_EXAMPLE), interpolated - set(ENV_EXAMPLE)
    app_environment = set(COMPOSE["services"]["web"]["environment"])
    for name in (interpolated | app_environment | set(ENV_EXAMPLE)) - COMPOSE_ONLY:
        assert f'"{name}"' in SETTINGS, f"{name} is not read by mlops_site/settings.py"


def test_every_setting_is_in_the_example():
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_0-9]+)"', SETTINGS))
    assert read <= set(ENV_EXAMPLE), read - set(ENV_EXAMPLE)


def test_image_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    entrypoint = ROOT / "scripts" / "docker-entrypoint.sh"
    assert os.access(entrypoint, os.X_OK) and "manage.py worker" in entrypoint.read_text()


def test_web_and_workers_share_one_metrics_directory():
    """/metrics on the web sees the workers' evaluation histograms only through a shared directory."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    directory = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", dockerfile).group(1)
    shared = {volume.split(":")[1] for volume in COMPOSE["x-cellwise"]["volumes"]}
    assert any(directory.startswith(mount + "/") for mount in shared), (directory, shared)
    for name in ("web", "worker"):
        assert COMPOSE["services"][name]["volumes"] == COMPOSE["x-cellwise"]["volumes"], name
    entrypoint = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    assert 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' not in entrypoint  # one container must not wipe the others'


def test_prometheus_loads_the_shipped_rules_and_scrapes_with_the_metrics_key():
    """The rules themselves are checked and unit-tested with promtool (tests/test_prometheus_rules.py)."""
    prometheus = COMPOSE["services"]["prometheus"]
    mounts = dict(volume.split(":")[:2] for volume in prometheus["volumes"])
    assert mounts["./scripts/compose/prometheus"] == "/etc/prometheus"
    config_dir = ROOT / "scripts" / "compose" / "prometheus"
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text())
    assert all((config_dir / name).is_file() for name in config["rule_files"])
    scrape = config["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics" and scrape["static_configs"][0]["targets"] == ["web:8060"]
    key_file = scrape["authorization"]["credentials_file"]
    assert f"> {key_file}" in prometheus["entrypoint"][-1]
    assert prometheus["environment"]["METRICS_KEY"] == "${METRICS_KEY}"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["entrypoint"][-1]
