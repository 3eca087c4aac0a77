"""manage.py worker: recover what dead workers left behind, make sure the schedules exist,
then run the django-q2 cluster until SIGTERM/SIGINT, which stops it within
WORKER_STOP_GRACE_SECONDS (mlops_site.cluster). No torch op runs here before the fork."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.tasks import async_task

from mlops_site import cluster
from mlops_site.schedules import ensure_schedules
from mlops_site.startup import recover


class Command(BaseCommand):
    help = "Start a django-q2 worker cluster after start-up recovery."

    def handle(self, *args, **options):
        for line in recover():
            self.stdout.write(f"recovery: {line}")
        for change in ensure_schedules():
            self.stdout.write(f"schedule: {change}")
        self.stdout.flush()  # before qcluster takes over the process: the log shows what recovery did
        # A flush a dead worker left half-done (a run being logged) is replayed now, not in a minute.
        async_task("registry.tasks.mirror_flush", task_name="mlflow-mirror-flush-at-start", group="mlflow-mirror")
        # Webhook deliveries a dead worker left half-sent (their lease has expired) go out now.
        async_task("alerts.tasks.deliver_due", task_name="alert-deliveries-at-start", group="alerts")
        if settings.MONITORING_ENABLED:
            # The scheduler first fires 30 s after start; check due fields right away instead.
            async_task("performance.tasks.monitor_tick", task_name="monitor-tick-at-start")
        cluster.run(grace_seconds=settings.WORKER_STOP_GRACE_SECONDS)
