"""Dependency checks for GET /v1/health: each reports up/down with its latency.

Required (503 when down): the database and the job broker — nothing can be recorded or queued
without them. Optional (the answer says "degraded"): MLflow (a mirror), the models storage
(cached versions keep serving), the data source and ClickHouse.

Bounded in time whatever the dependencies do: the checks run in parallel and the answer waits
at most HEALTH_TIMEOUT_SECONDS; a check still running then is "down" (no answer in time) and
keeps its thread until it ends; meanwhile no second probe of that dependency starts and later
rounds report it down without waiting for it again. The answer is cached for
HEALTH_CACHE_SECONDS per process, so a burst of probes costs one round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlparse

import httpx
from django.conf import settings
from django.core.files.storage import storages
from django.db import connection, connections

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
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=settings.HEALTH_TIMEOUT_SECONDS)
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


_pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="health")
_running: dict[str, tuple[float, Future]] = {}  # each dependency's probe (started at), until it ends
_lock = threading.Lock()
_cached: tuple[float, tuple[bool, dict[str, dict]]] | None = None


def _probe(check: Callable[[], str]) -> tuple[str, str, float]:
    began = time.perf_counter()
    try:
        detail, status = check(), "up"
    except Exception as error:  # any failure is a "down" with its reason
        detail, status = f"{type(error).__name__}: {str(error)[:200]}", "down"
    finally:
        connections.close_all()  # this pool thread's own connections; the next probe opens fresh ones
    return detail, status, round((time.perf_counter() - began) * 1000, 1)


def _run_all() -> tuple[bool, dict[str, dict]]:
    began = time.monotonic()
    started = []
    for name, (check, _) in CHECKS.items():
        if name not in _running or _running[name][1].done():
            _running[name] = (began, _pool.submit(_probe, check))
            started.append(_running[name][1])
    timeout = settings.HEALTH_TIMEOUT_SECONDS
    wait(started, timeout=timeout)  # a probe left over from an earlier round is not waited for again
    results, healthy = {}, True
    for name, (_, required) in CHECKS.items():
        since, future = _running[name]
        if future.done():
            detail, status, latency = future.result()
        else:
            waiting = time.monotonic() - since
            detail = f"no answer within {timeout:g} s" if since == began else f"no answer for {waiting:.0f} s"
            status, latency = "down", round(waiting * 1000, 1)
        healthy = healthy and not (required and status == "down")
        results[name] = {"status": status, "required": required, "detail": detail, "latency_ms": latency}
    return healthy, results


def run_checks() -> tuple[bool, dict[str, dict]]:
    """(every required dependency is up, a result per dependency); fresh or from the cache."""
    global _cached
    with _lock:  # concurrent callers wait for one round instead of starting their own
        if _cached is not None and time.monotonic() - _cached[0] < settings.HEALTH_CACHE_SECONDS:
            return _cached[1]
        outcome = _run_all()
        _cached = (time.monotonic(), outcome)
        return outcome


def forget() -> None:
    """Tests: drop the cached answer and forget running probes (the next call probes again)."""
    global _cached
    with _lock:
        _cached = None
        _running.clear()
