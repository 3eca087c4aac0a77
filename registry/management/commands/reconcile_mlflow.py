"""manage.py reconcile_mlflow: apply the pending MLflow mirror writes now."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from registry import mirror


class Command(BaseCommand):
    help = "Catch the MLflow registry mirror up with the database."

    def handle(self, *args, **options):
        result = mirror.flush()
        self.stdout.write(f"applied {result.applied}, pending {result.pending}")
        if result.error:
            self.stderr.write(f"stopped at an error: {result.error}")
