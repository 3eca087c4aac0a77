"""The django-q2 schedules cellwise needs, created idempotently.

Called by `manage.py bootstrap` and `manage.py worker`; safe with many processes at once: the
check-and-create runs under a database lock (an advisory lock on PostgreSQL; SQLite runs
transactions one at a time), and duplicates left by older versions are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule

_LOCK_KEY = 0x63656C6C  # "cell"


@dataclass(frozen=True)
class Wanted:
    name: str
    func: str
    minutes: int = 1


MANAGED = ("mlflow-mirror-reconcile", "training-recover", "leftovers-reconcile", "monitoring-tick", "history-prune",
           "alerts-deliver", "dependency-watch", "forecast-tick", "forecast-prune")


def wanted_schedules() -> list[Wanted]:
    wanted = [
        Wanted("mlflow-mirror-reconcile", "registry.tasks.mirror_flush", minutes=1),
        Wanted("training-recover", "training.tasks.recover", minutes=5),
        Wanted("leftovers-reconcile", "training.tasks.reconcile_leftovers",
               minutes=settings.LEFTOVERS_RECONCILE_MINUTES),
        # Webhook retries that are due, and deliveries whose first task was lost.
        Wanted("alerts-deliver", "alerts.tasks.deliver_due", minutes=1),
        Wanted("dependency-watch", "mlops_site.dependency_watch.watch", minutes=1),
    ]
    if settings.MONITORING_ENABLED:
        # Every minute (django-q2's finest); each field's next_check_at keeps its own interval.
        wanted.append(Wanted("monitoring-tick", "performance.tasks.monitor_tick", minutes=1))
    if settings.HISTORY_RETENTION_DAYS > 0:
        wanted.append(Wanted("history-prune", "performance.tasks.prune_history", minutes=24 * 60))
    # Forecasts for a whole network: every cell of each evaluated field, once per window.
    if settings.FORECAST_SCHEDULE_ENABLED:
        wanted.append(Wanted("forecast-tick", "inference.tasks.forecast_tick", minutes=1))
    if settings.FORECAST_RETENTION_DAYS > 0:
        wanted.append(Wanted("forecast-prune", "inference.tasks.prune_forecasts", minutes=24 * 60))
    return wanted


@transaction.atomic
def ensure_schedules() -> list[str]:
    """Create or update the wanted schedules and remove unwanted ones (the monitoring tick when
    MONITORING_ENABLED is false); returns what changed."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    changes = []
    wanted = {w.name: w for w in wanted_schedules()}
    for name, spec in wanted.items():
        rows = list(Schedule.objects.filter(name=name).order_by("id"))
        for duplicate in rows[1:]:
            duplicate.delete()
            changes.append(f"removed duplicate {name}")
        if not rows:
            Schedule.objects.create(
                name=name, func=spec.func, schedule_type=Schedule.MINUTES, minutes=spec.minutes,
                repeats=-1, next_run=timezone.now(),
            )
            changes.append(f"created {name}")
        elif (rows[0].func, rows[0].minutes) != (spec.func, spec.minutes):
            Schedule.objects.filter(id=rows[0].id).update(func=spec.func, minutes=spec.minutes)
            changes.append(f"updated {name}")
    for stale in Schedule.objects.filter(name__in=MANAGED).exclude(name__in=list(wanted)):
        stale.delete()
        changes.append(f"removed {stale.name}")
    return changes + [f"kept {n}" for n in wanted if not any(n in c for c in changes)]
