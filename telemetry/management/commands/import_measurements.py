"""manage.py import_measurements <csv…>: add G-NetTrack Pro exports to the embedded dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemetry.gnettrack import DEFAULT_TIMEZONE, ImportReport, read_gnettrack, write_compact


class Command(BaseCommand):
    help = "Convert G-NetTrack Pro CSV exports into the compact format the embedded source reads."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--timezone", default=DEFAULT_TIMEZONE, help="time zone of the Timestamp column")

    def handle(self, *args, paths: list[Path], timezone: str, **options):
        target_dir = Path(settings.VAR_DIR) / "measurements"
        for path in paths:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            report = ImportReport()
            try:
                with open(path, encoding="utf-8", newline="") as handle:
                    records = list(read_gnettrack(handle, timezone=timezone, report=report))
            except (ValueError, UnicodeDecodeError) as error:
                raise CommandError(f"{path}: {error}") from error
            # Named by content, so importing the same file twice replaces it instead of doubling it.
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            target = target_dir / f"{path.stem}-{digest}.csv.gz"
            written = write_compact(records, target)
            cells = len({r[1] for r in records})
            self.stdout.write(
                f"{path}: {written} records of {cells} cells -> {target} "
                f"(skipped {report.skipped_no_cell} without a cell id, {report.skipped_bad_time} with a bad time)"
            )
        self.stdout.write("Restart the web server and workers to read the new data.")
