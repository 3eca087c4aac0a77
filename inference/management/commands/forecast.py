"""manage.py forecast <field> <cell> [--model ID] [--coverage 0.9]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from inference.forecasting import forecast_cell


class Command(BaseCommand):
    help = "Forecast the next windows of one cell with the field's best model (or --model)."

    def add_arguments(self, parser):
        parser.add_argument("field")
        parser.add_argument("cell", type=int)
        parser.add_argument("--model", default=None, help="model id (default: the field's elected best)")
        parser.add_argument("--coverage", type=float, default=None,
                            help="of the prediction intervals (default INTERVAL_COVERAGE)")

    def handle(self, *args, field: str, cell: int, model: str | None, coverage: float | None, **options):
        try:
            result = forecast_cell(output_field=field, cell_id=cell, model_id=model, coverage=coverage)
        except DomainError as error:
            raise CommandError(error.message) from error
        entry = result.entry
        self.stdout.write(f"{entry.model_name} v{entry.version} ({entry.architecture}), cell {cell}, "
                          f"inputs {result.as_dict()['input_start']:%Y-%m-%d %H:%M:%S} – "
                          f"{result.as_dict()['input_end']:%H:%M:%S} from {result.source}")
        for step in result.steps:
            values = ", ".join(
                f"{k}={v:.3f}" + (f" [{step['lower'][k]:.3f}, {step['upper'][k]:.3f}]" if step["lower"] else "")
                for k, v in step["values"].items())
            self.stdout.write(f"  +{step['step']} {step['window_start']:%Y-%m-%d %H:%M:%S}: {values}")
