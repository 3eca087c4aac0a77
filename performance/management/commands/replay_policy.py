"""manage.py replay_policy FIELD --factor F [--factor F …] --interval I --days D: how a retrain
policy would have behaved over the last D days (re-scores the current best; never trains)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from performance import replay as replay_policy
from performance.services import election


def _at(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


class Command(BaseCommand):
    help = "Replay the degradation rule with given factors and interval over stored data; prints each policy's outcome."

    def add_arguments(self, parser):
        parser.add_argument("field")
        parser.add_argument("--factor", action="append", type=float, dest="factors",
                            help="a degradation factor (repeat to compare several); default 1.5")
        parser.add_argument("--interval", type=int, default=300, help="check interval in seconds (default 300)")
        parser.add_argument("--days", type=float, default=7, help="days to replay (default 7)")
        parser.add_argument("--retrain-seconds", type=int, default=None,
                            help="time a retraining keeps the loop away (default: the best's last training)")

    def handle(self, *args, field: str, factors: list[float] | None, interval: int, days: float,
               retrain_seconds: int | None, **options):
        try:
            election.check_field(field)
            result = replay_policy.replay(field=field, factors=factors or [1.5], interval_seconds=interval, days=days,
                                          retrain_seconds=retrain_seconds)
        except DomainError as error:
            raise CommandError(error.message) from error
        scored = int((result.samples > 0).sum())
        self.stdout.write(f"{field}: {result.model_name} v{result.version}, {result.metric} baseline "
                          f"{result.baseline:.4g}; {result.checks} checks every {interval} s over {days:g} days "
                          f"({scored} with samples), retraining away {result.retrain_seconds} s; "
                          f"replayed in {result.seconds:.2f} s")
        for policy in result.policies:
            first = _at(policy.first_trigger_at) if policy.first_trigger_at is not None else "never"
            self.stdout.write(f"  factor {policy.factor:g}: threshold {policy.threshold:.4g}, "
                              f"{len(policy.triggers)} retrain triggers (first {first}), "
                              f"{policy.degraded_checks} degraded checks = {policy.degraded_seconds / 3600:.2f} h "
                              "past the threshold")
