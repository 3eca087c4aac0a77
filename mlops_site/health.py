"""Dependency checks for GET /v1/health: each reports up/down with its latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
from django.conf import settings
from django.db import connection

from telemetry.sources import history_source


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


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


def _data_source() -> str:
    source = history_source()
    source.check()
    return source.name


CHECKS: dict[str, tuple[Callable[[], str], bool]] = {
    # name: (check, required) - a required check that fails makes the endpoint answer 503.
    "database": (_database, True),
    "mlflow": (_mlflow, False),
    "data_source": (_data_source, False),
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
