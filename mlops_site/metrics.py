"""GET /metrics: Prometheus text, protected by METRICS_KEY.

Counters and histograms (inferences, their latency, evaluation durations) live in the
processes that record them: web processes and workers. With PROMETHEUS_MULTIPROC_DIR set
(scripts/start, the compose stack) every process writes its values there and the endpoint adds
them up, so one scrape of any web process sees the workers' evaluations too. Files are named by
host and pid, so containers sharing the directory through a volume never collide. Gauges are
read from the database at scrape time, so they are the same whichever process answers.
"""

from __future__ import annotations

import hmac
import os
import socket

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from alerts import selectors as alert_selectors
from performance.models import FieldMonitor, MonitorState
from training.models import JobStatus, TrainingJob


def share_process_values() -> None:
    """Name this process's metric files `<host>-<pid>` (prometheus_client uses the bare pid,
    which repeats across containers). Must run before any metric gets a value."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import values

        host = socket.gethostname()
        values.ValueClass = values.MultiProcessValue(process_identifier=lambda: f"{host}-{os.getpid()}")


class StateCollector:
    """Jobs by status, broker queue depth, monitors by state, checks due now, what the dependency
    watcher last saw and webhook deliveries by status."""

    def collect(self):
        jobs = GaugeMetricFamily("cellwise_training_jobs", "Training jobs by status", labels=["status"])
        counts = dict(TrainingJob.objects.values_list("status").annotate(n=Count("id")))
        for status in JobStatus.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        monitors = GaugeMetricFamily("cellwise_monitors", "Field monitors by state", labels=["state"])
        states = dict(FieldMonitor.objects.values_list("state").annotate(n=Count("id")))
        for state in MonitorState.values:
            monitors.add_metric([state], states.get(state, 0))
        yield monitors
        yield GaugeMetricFamily("cellwise_monitor_checks_due", "Field checks due now",
                                value=FieldMonitor.objects.filter(next_check_at__lte=timezone.now()).count())
        from django_q.brokers import get_broker

        yield GaugeMetricFamily("cellwise_queue_depth", "Tasks waiting in the django-q2 broker",
                                value=get_broker().queue_size())
        up = GaugeMetricFamily("cellwise_dependency_up", "1 while the dependency watcher sees it up",
                               labels=["dependency"])
        down = GaugeMetricFamily("cellwise_dependency_down_seconds", "How long it has been down (0 when up)",
                                 labels=["dependency"])
        now = timezone.now()
        for dependency in alert_selectors.dependency_statuses():
            up.add_metric([dependency.name], 1 if dependency.up else 0)
            down.add_metric([dependency.name], 0 if dependency.up else (now - dependency.since).total_seconds())
        yield up
        yield down
        deliveries = GaugeMetricFamily("cellwise_alert_deliveries", "Webhook deliveries by status", labels=["status"])
        for status, count in alert_selectors.delivery_counts().items():
            deliveries.add_metric([status], count)
        yield deliveries


class _ThisProcess:
    def collect(self):
        yield from REGISTRY.collect()


def render() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector())
    return generate_latest(registry)


def metrics_view(request):
    key = settings.METRICS_KEY
    if not key:
        return HttpResponse("metrics are off: set METRICS_KEY\n", status=404, content_type="text/plain")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), key.encode()):
        return HttpResponse("send Authorization: Bearer <METRICS_KEY>\n", status=401, content_type="text/plain")
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
