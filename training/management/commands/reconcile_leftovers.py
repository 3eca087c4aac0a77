"""manage.py reconcile_leftovers: remove crash leftovers now (what the schedule does)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from training.cleanup import reconcile


class Command(BaseCommand):
    help = ("Remove weight bundles no version references and no active job will claim, and end MLflow runs "
            "left RUNNING by dead processes.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list what would be removed or ended")

    def handle(self, *args, dry_run: bool = False, **options):
        lines = reconcile(dry_run=dry_run)
        for line in lines:
            self.stdout.write(line)
        if not lines:
            self.stdout.write("nothing left over")
