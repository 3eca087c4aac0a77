"""manage.py monitor [--field F …] [--once]: run the monitoring loop in the foreground."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from performance import monitoring
from performance.services import monitors


class Command(BaseCommand):
    help = ("Run monitoring ticks here (one with --once, else one a minute) and print what each did. "
            "Named fields are checked now, whatever their next check time.")

    def add_arguments(self, parser):
        parser.add_argument("--field", action="append", dest="fields", default=[], help="only these fields")
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, fields: list[str], once: bool, **options):
        while True:
            if fields:
                monitors.field_monitor_make_due(fields=fields)
            outcomes = monitoring.tick(only=fields or None)
            for outcome in outcomes:
                self.stdout.write(f"{timezone.now():%H:%M:%S} {outcome.field}: {outcome.action}")
            if not outcomes:
                self.stdout.write(f"{timezone.now():%H:%M:%S} no field was due")
            if once:
                return
            time.sleep(60)
