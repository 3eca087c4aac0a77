"""manage.py forecast_all <field> [--model ID] [--cells 1,2,…] [--chunk N] [--no-store]"""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from inference.batch import forecast_chunks
from inference.forecast_store import get_store


class Command(BaseCommand):
    help = ("Forecast every cell of a field (or --cells) with its best model (or --model), one read and one "
            "forward pass per chunk of cells, and store the forecasts as the schedule does.")

    def add_arguments(self, parser):
        parser.add_argument("field")
        parser.add_argument("--model", default=None, help="model id (default: the field's elected best)")
        parser.add_argument("--cells", default="", help="comma-separated cell ids (default: every cell)")
        parser.add_argument("--chunk", type=int, default=None,
                            help="cells per chunk (default FORECAST_CHUNK_CELLS)")
        parser.add_argument("--no-store", action="store_true", help="print the summary only, store nothing")

    def handle(self, *args, field: str, model: str | None, cells: str, chunk: int | None, no_store: bool,
               **options):
        try:
            wanted = [int(c) for c in cells.split(",") if c.strip()] or None
        except ValueError as error:
            raise CommandError(f"--cells takes comma-separated cell ids: {error}") from error
        began, forecast, rows = time.perf_counter(), 0, 0
        reasons: Counter[str] = Counter()
        store = None if no_store else get_store()
        try:
            for result in forecast_chunks(output_field=field, cells=wanted, model_id=model,
                                          chunk_size=chunk or settings.FORECAST_CHUNK_CELLS):
                forecast += len(result.forecasts)
                rows += store.write(result) if store else 0
                for skipped in result.skipped:
                    reasons[skipped.reason.split(";")[0] if skipped.found is None else "too few complete windows"] += 1
                self.stdout.write(f"  {forecast:,} cells forecast, {sum(reasons.values()):,} skipped "
                                  f"({time.perf_counter() - began:.1f} s)")
        except DomainError as error:
            raise CommandError(error.message) from error
        took = time.perf_counter() - began
        where = f", {rows:,} rows stored in the {store.name} store" if store else ""
        self.stdout.write(self.style.SUCCESS(f"{field}: {forecast:,} cells forecast in {took:.2f} s{where}"))
        for reason, count in reasons.most_common():
            self.stdout.write(f"  skipped {count:,}: {reason}")
