"""manage.py add_naive <field> --window SECONDS --lookback STEPS --forecast STEPS [--here]

Register persistence and the lookback mean as models of a field, so that its elections count
them and it never serves a forecast worse than theirs; their jobs fit nothing and end at once.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry import services as registry_services
from registry.models import NAIVE_ARCHITECTURES
from training import selectors, services


class Command(BaseCommand):
    help = "Create the persistence and lookback-mean models of a field and queue their (instant) jobs."

    def add_arguments(self, parser):
        parser.add_argument("field", help="the KPI field, e.g. sinr_mean")
        parser.add_argument("--window", type=int, required=True, help="window duration in seconds")
        parser.add_argument("--lookback", type=int, required=True, help="lookback steps")
        parser.add_argument("--forecast", type=int, required=True, help="forecast steps")
        parser.add_argument("--here", action="store_true", help="run the jobs in this process (no worker needed)")

    def handle(self, *args, field: str, window: int, lookback: int, forecast: int, here: bool, **options):
        for architecture in NAIVE_ARCHITECTURES:
            name = registry_services.naive_model_name(field=field, architecture=architecture, window=window,
                                                      lookback=lookback, forecast=forecast)
            try:
                model = registry_services.model_config_create(
                    name=name, architecture=architecture, input_fields=[field], output_fields=[field],
                    window_duration_seconds=window, lookback_steps=lookback, forecast_steps=forecast)
                job = services.training_job_create(model=model, reason="command")
            except DomainError as error:
                raise CommandError(error.message) from error
            self.stdout.write(f"model {name} created, job {job.id} queued")
            if here:
                from training.tasks import run_training_job

                run_training_job(str(job.id))
                job = selectors.job_get(job.id)
                self.stdout.write(f"job {job.id}: {job.status} {job.error_message}".rstrip())
                if job.status != "completed":
                    raise CommandError(f"training {name} {job.status}")
