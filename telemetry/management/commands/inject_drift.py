"""manage.py inject_drift <kpi> [--noise STD] [--offset X] [--days N] | --clear

Makes the bundled data drift so the monitoring loop has something to react to: from N days
before the data's end (default: the evaluation span), the KPI gets an offset and/or Gaussian
noise. Every process picks the change up at its next read. Embedded source only.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemetry import drift
from telemetry.embedded import EmbeddedSource
from telemetry.gnettrack import KPIS
from telemetry.sources import history_source


class Command(BaseCommand):
    help = "Add an offset and/or noise to one KPI of the bundled data from some days back (or --clear)."

    def add_arguments(self, parser):
        parser.add_argument("kpi", nargs="?", choices=KPIS)
        parser.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise added to each record")
        parser.add_argument("--offset", type=float, default=0.0, help="constant added to each record")
        parser.add_argument("--days", type=float, default=None, help="how far back the drift starts")
        parser.add_argument("--clear", action="store_true", help="remove every injected drift")

    def handle(self, *args, kpi: str | None, noise: float, offset: float, days: float | None, clear: bool, **options):
        path = Path(settings.VAR_DIR) / "drift.json"
        if clear:
            path.unlink(missing_ok=True)
            self.stdout.write("drift cleared")
            return
        source = history_source()
        if not isinstance(source, EmbeddedSource):
            raise CommandError(f"inject_drift only works on the bundled dataset; the source is {source.name}")
        if kpi is None or (noise == 0 and offset == 0):
            raise CommandError("name a KPI and give --noise and/or --offset")
        span_days = settings.EVALUATION_SPAN_SECONDS / 86400 if days is None else days
        since = int(source.now() - span_days * 86400)
        drifts = drift.read(path) + [drift.Drift(kpi=kpi, since=since, noise=noise, offset=offset,
                                                 seed=len(drift.read(path)))]
        drift.write(path, drifts)
        self.stdout.write(f"{kpi}: +{offset} and noise std {noise} from {span_days:g} days before the data's end")
