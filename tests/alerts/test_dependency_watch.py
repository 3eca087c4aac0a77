"""The dependency watcher with the real /v1/health probes: MLflow pointed at a closed port is
down. One alert once the outage lasts ALERTS_DEPENDENCY_DOWN_SECONDS, none for a blip, one
"recovered" when it is back; the state is in the database (any worker may run the next check)."""

from __future__ import annotations

import re

import pytest

from alerts.models import AlertEvent, DependencyStatus
from mlops_site import dependency_watch, health
from mlops_site.metrics import render
from tests.alerts.receiver import closed_port_url

pytestmark = pytest.mark.django_db


def watch() -> list[str]:
    getattr(health, "forget", lambda: None)()  # probe now, not a cached answer
    return dependency_watch.watch()


def sent() -> list[str]:
    return list(AlertEvent.objects.order_by("at").values_list("type", flat=True))


def test_an_outage_longer_than_the_threshold_sends_one_alert_and_a_recovery(settings, clock, mlflow_server_uri):
    settings.ALERTS_DEPENDENCY_DOWN_SECONDS = 300
    settings.MLFLOW_TRACKING_URI = closed_port_url()
    assert "mlflow: down" in watch() and sent() == []
    first = DependencyStatus.objects.get(name="mlflow")
    assert not first.up and not first.alerted and "ConnectError" in first.detail
    clock.advance(240)
    watch()
    assert sent() == []
    clock.advance(61)
    assert "mlflow: down (dependency.down sent)" in watch()
    clock.advance(60)
    watch()
    assert sent() == ["dependency.down"]  # once per outage
    event = AlertEvent.objects.get()
    assert event.payload["data"]["down_seconds"] == pytest.approx(301) and "mlflow" in event.text
    metrics = render().decode()
    assert 'cellwise_dependency_up{dependency="mlflow"} 0.0' in metrics
    assert float(re.search(r'cellwise_dependency_down_seconds\{dependency="mlflow"\} (\S+)', metrics)[1]) == 361
    assert 'cellwise_dependency_up{dependency="database"} 1.0' in metrics

    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    clock.advance(60)
    assert "mlflow: up (dependency.recovered sent)" in watch()
    assert sent() == ["dependency.down", "dependency.recovered"]
    assert DependencyStatus.objects.get(name="mlflow").up


def test_a_blip_shorter_than_the_threshold_sends_nothing(settings, clock, mlflow_server_uri):
    settings.ALERTS_DEPENDENCY_DOWN_SECONDS = 300
    settings.MLFLOW_TRACKING_URI = closed_port_url()
    watch()
    clock.advance(120)
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    watch()
    clock.advance(400)
    watch()
    assert sent() == []


def test_a_state_nobody_watched_for_long_counts_from_now(settings, clock):
    """Workers were off for an hour: a dependency still down is not "down for an hour" yet."""
    settings.ALERTS_DEPENDENCY_DOWN_SECONDS = 300
    settings.MLFLOW_TRACKING_URI = closed_port_url()
    watch()
    clock.advance(3600)
    watch()
    assert sent() == [] and DependencyStatus.objects.get(name="mlflow").since == clock.now()
