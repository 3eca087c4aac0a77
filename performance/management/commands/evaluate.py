"""manage.py evaluate <field> [--metric rmse|mae|mape|r2]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from performance.metrics import METRICS
from performance.services import election


class Command(BaseCommand):
    help = "Score every model of a field against naive baselines and elect the best."

    def add_arguments(self, parser):
        parser.add_argument("field")
        parser.add_argument("--metric", default="rmse", choices=METRICS)

    def handle(self, *args, field: str, metric: str, **options):
        try:
            evaluation = election.field_evaluate(field=field, metric=metric)
        except DomainError as error:
            raise CommandError(error.message) from error
        if not evaluation.records:
            self.stdout.write(f"no models forecast {field}")
            return
        self.stdout.write(f"{'rank':>4} {'model':<28} {'ver':>3} {metric:>10} {'persist.':>10} {'mean':>10} "
                          f"{'skill':>7} {'samples':>8}")
        for r in evaluation.records:
            def fmt(value):
                return f"{value:10.4f}" if value is not None else f"{'-':>10}"
            skill = f"{r.skill_vs_persistence:+7.1%}" if r.skill_vs_persistence is not None else f"{'-':>7}"
            self.stdout.write(f"{r.rank or '-':>4} {r.model_name:<28} {r.version or '-':>3} {fmt(r.score)} "
                              f"{fmt(r.persistence_score)} {fmt(r.lookback_mean_score)} {skill} {r.samples:>8}"
                              f"{'  <- best' if r.elected else ''}{'  ' + r.note if r.note else ''}")
