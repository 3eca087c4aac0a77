"""manage.py prune_history [--days N]: delete routine monitoring rows older than the retention."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from performance.retention import history_prune


class Command(BaseCommand):
    help = ("Delete auto_monitor scores that elected nothing and check/no_data events older than N days "
            "(default HISTORY_RETENTION_DAYS); evaluations, elections and transitions are kept.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override HISTORY_RETENTION_DAYS (0: keep all)")

    def handle(self, *args, days: int | None, **options):
        pruned = history_prune(older_than_days=days)
        kept = settings.HISTORY_RETENTION_DAYS if days is None else days
        self.stdout.write(f"pruned {pruned.scores} score rows, {pruned.events} check events and "
                          f"{pruned.alerts} alert events older than {kept} days" if kept > 0
                          else "retention is 0: nothing pruned")
