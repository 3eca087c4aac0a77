"""Two ticks racing on the same due field, in two threads with their own PostgreSQL
connections: the field is handled exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from performance import monitoring
from performance.models import FieldMonitor, MonitorEvent, ScoreRecord
from performance.services import election
from tests.factories import known_version

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"


def test_two_ticks_handle_a_field_once(make_model):
    assert connection.vendor == "postgresql", "this race needs PostgreSQL: run it with scripts/test"
    model = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                       forecast_steps=1)
    known_version(model)
    election.field_evaluate(field=FIELD)
    from django.utils import timezone

    FieldMonitor.objects.update(next_check_at=timezone.now())
    start, results = threading.Barrier(2), []

    def run():
        try:
            start.wait()
            results.append(monitoring.tick())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    handled = [outcome for result in results for outcome in result]
    assert [o.field for o in handled] == [FIELD]
    assert MonitorEvent.objects.filter(kind="check").count() == 1
    assert ScoreRecord.objects.filter(trigger="auto_monitor").count() == 1
