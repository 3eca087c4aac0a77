"""History retention: routine monitoring rows age out, the field's story stays."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from performance import retention
from performance.models import MonitorEvent, ScoreRecord

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


def score(days_ago: float, trigger: str, elected: bool = False) -> ScoreRecord:
    return ScoreRecord.objects.create(
        evaluation=uuid.uuid4(), field=FIELD, model_id=uuid.uuid4(), model_name="m", metric="rmse", score=1.0,
        trigger=trigger, elected=elected, measured_at=timezone.now() - timedelta(days=days_ago))


def event(days_ago: float, kind: str) -> MonitorEvent:
    return MonitorEvent.objects.create(at=timezone.now() - timedelta(days=days_ago), field=FIELD, kind=kind)


@pytest.fixture
def history():
    return {
        "old_check_score": score(100, "auto_monitor"),
        "recent_check_score": score(10, "auto_monitor"),
        "old_election_by_loop": score(100, "auto_monitor", elected=True),
        "old_evaluation": score(100, "evaluate"),
        "old_loop_evaluation": score(100, "auto_evaluate"),
        "old_check": event(100, "check"),
        "old_no_data": event(100, "no_data"),
        "recent_check": event(10, "check"),
        "old_transition": event(100, "transition"),
        "old_error": event(100, "error"),
        "old_rebaseline": event(100, "rebaseline"),
    }


def remaining(history) -> set[str]:
    scores = set(ScoreRecord.objects.values_list("id", flat=True))
    events = set(MonitorEvent.objects.values_list("id", flat=True))
    return {name for name, row in history.items() if row.id in (scores if isinstance(row, ScoreRecord) else events)}


def test_routine_rows_older_than_the_retention_go_the_story_stays(history, settings, monkeypatch):
    settings.HISTORY_RETENTION_DAYS = 90
    monkeypatch.setattr(retention, "BATCH", 1)  # several batches
    pruned = retention.history_prune()
    assert (pruned.scores, pruned.events) == (1, 2)
    assert remaining(history) == set(history) - {"old_check_score", "old_check", "old_no_data"}


def test_zero_keeps_everything_and_the_command_can_override(history, settings):
    settings.HISTORY_RETENTION_DAYS = 0
    assert retention.history_prune() == retention.Pruned()
    assert remaining(history) == set(history)
    call_command("prune_history", "--days", "5")
    assert "recent_check_score" not in remaining(history) and "recent_check" not in remaining(history)
    assert {"old_evaluation", "old_transition", "old_election_by_loop"} <= remaining(history)


def test_the_history_chart_shows_the_newest_scores(settings):
    from performance.views import history_chart

    ScoreRecord.objects.bulk_create([
        ScoreRecord(evaluation=uuid.uuid4(), field=FIELD, model_id=uuid.uuid4(), model_name="m", metric="rmse",
                    score=1.0, trigger="auto_monitor", measured_at=timezone.now() - timedelta(minutes=5 * n))
        for n in range(1200)  # more than the chart keeps: ~4 days of checks every 5 minutes
    ])
    times = history_chart(FIELD, "rmse")["x"]
    assert len(times) == 1000 and times == sorted(times)
    assert times[-1] == pytest.approx(ScoreRecord.objects.order_by("-measured_at").first().measured_at.timestamp())


def test_finished_alert_events_age_out_with_the_history(settings):
    from alerts import services
    from alerts.models import AlertEvent, Delivery, DeliveryStatus, EventType

    services.webhook_create(name="receiver", url="https://receiver.example/hook")  # never sent to here
    made = {}
    for name, days_ago, status in (("old_delivered", 100, DeliveryStatus.DELIVERED),
                                   ("old_failed", 100, DeliveryStatus.FAILED),
                                   ("old_pending", 100, DeliveryStatus.PENDING),
                                   ("recent_delivered", 10, DeliveryStatus.DELIVERED)):
        event = services.alert_emit(type=EventType.FIELD_DEGRADED, fields=[FIELD], text=name)
        AlertEvent.objects.filter(id=event.id).update(at=timezone.now() - timedelta(days=days_ago))
        Delivery.objects.filter(event=event).update(status=status)
        made[name] = event.id
    settings.HISTORY_RETENTION_DAYS = 90

    assert retention.history_prune().alerts == 2
    left = set(AlertEvent.objects.values_list("text", flat=True))
    assert left == {"old_pending", "recent_delivered"}  # a delivery still retried keeps its event
    assert set(Delivery.objects.values_list("event_id", flat=True)) == {made["old_pending"], made["recent_delivered"]}
