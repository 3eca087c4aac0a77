"""Dependency checks for GET /v1/health: each reports up/down with its latency.

Required (503 when down): the database and the job broker — nothing can be recorded or queued
without them. Optional (the answer says "degraded"): MLflow (a mirror), the models storage
(cached versions keep serving), the data source and ClickHouse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
from django.conf import settings
from django.core.files.storage import storages
from django.db import connection

from telemetry.sources import history_source


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _broker() -> str:
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:
        raise RuntimeError("the broker did not answer")
    return f"{settings.Q_BROKER}, {broker.queue_size()} queued"


def _mlflow() -> str:
    uri = settings.MLFLOW_TRACKING_URI
    if uri.startswith(("http://", "https://")):
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=3)
        response.raise_for_status()
        return "server"
    if uri.startswith("sqlite:"):
        folder = Path(urlparse(uri).path).parent
        if not folder.is_dir():
            raise RuntimeError(f"folder {folder} of the MLflow store does not exist")
        return "embedded sqlite store"
    return "database store"


def _storage() -> str:
    storage = storages["models"]
    storage.exists("health-check")  # a real round trip to S3 (or the disk); absent is fine
    return settings.MODEL_STORAGE_BACKEND


def _data_source() -> str:
    source = history_source()
    source.check()
    return source.name


def _clickhouse() -> str:
    if not settings.CLICKHOUSE_DSN:
        return "not configured"
    from telemetry.clickhouse import ClickHouseSource

    ClickHouseSource(settings.CLICKHOUSE_DSN, schema=settings.CLICKHOUSE_SCHEMA,
                     table=settings.CLICKHOUSE_TABLE).check()
    return settings.CLICKHOUSE_DSN.split("://", 1)[0]


CHECKS: dict[str, tuple[Callable[[], str], bool]] = {
    # name: (check, required)
    "database": (_database, True),
    "broker": (_broker, True),
    "mlflow": (_mlflow, False),
    "storage": (_storage, False),
    "data_source": (_data_source, False),
    "clickhouse": (_clickhouse, False),
}


def run_checks() -> tuple[bool, dict[str, dict]]:
    results, healthy = {}, True
    for name, (check, required) in CHECKS.items():
        began = time.perf_counter()
        try:
            detail, status = check(), "up"
        except Exception as error:  # any failure is a "down" with its reason
            detail, status = f"{type(error).__name__}: {str(error)[:200]}", "down"
            healthy = healthy and not required
        results[name] = {
            "status": status, "required": required, "detail": detail,
            "latency_ms": round((time.perf_counter() - began) * 1000, 1),
        }
    return healthy, results
