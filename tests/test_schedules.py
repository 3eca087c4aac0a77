import pytest
from django_q.models import Schedule

from mlops_site.schedules import ensure_schedules

pytestmark = pytest.mark.django_db


def names() -> list[str]:
    return sorted(Schedule.objects.values_list("name", flat=True))


def test_schedules_are_created_once_and_follow_monitoring_enabled(settings):
    settings.MONITORING_ENABLED = True
    ensure_schedules()
    ensure_schedules()
    assert names() == ["alerts-deliver", "dependency-watch", "forecast-prune", "forecast-tick", "history-prune",
                       "leftovers-reconcile", "mlflow-mirror-reconcile", "monitoring-tick", "training-recover"]
    tick = Schedule.objects.get(name="monitoring-tick")
    assert (tick.func, tick.schedule_type, tick.minutes, tick.repeats) == (
        "performance.tasks.monitor_tick", Schedule.MINUTES, 1, -1)

    Schedule.objects.create(name="monitoring-tick", func="performance.tasks.monitor_tick", schedule_type="I",
                            minutes=1, repeats=-1)  # e.g. left by two processes racing in an older version
    assert "removed duplicate monitoring-tick" in ensure_schedules()
    assert names().count("monitoring-tick") == 1

    settings.MONITORING_ENABLED = False
    assert "removed monitoring-tick" in ensure_schedules()
    assert names() == ["alerts-deliver", "dependency-watch", "forecast-prune", "forecast-tick", "history-prune",
                       "leftovers-reconcile", "mlflow-mirror-reconcile", "training-recover"]

    settings.HISTORY_RETENTION_DAYS = 0  # keep everything: no pruning schedule
    assert "removed history-prune" in ensure_schedules()
    assert names() == ["alerts-deliver", "dependency-watch", "forecast-prune", "forecast-tick",
                       "leftovers-reconcile", "mlflow-mirror-reconcile", "training-recover"]


def test_the_forecast_schedule_follows_its_settings(settings):
    ensure_schedules()
    tick = Schedule.objects.get(name="forecast-tick")
    assert (tick.func, tick.minutes) == ("inference.tasks.forecast_tick", 1)
    settings.FORECAST_SCHEDULE_ENABLED = False
    settings.FORECAST_RETENTION_DAYS = 0
    changes = ensure_schedules()
    assert "removed forecast-tick" in changes and "removed forecast-prune" in changes
    assert not {"forecast-tick", "forecast-prune"} & set(names())
