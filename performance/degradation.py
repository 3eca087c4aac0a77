"""When is a field's best model degraded: the one definition that the monitoring loop, the API,
the pages and the admin share (as healthchecks' `Check.get_status` is for its loop, views and API).

The threshold is the baseline (the best's score when it was elected) × MONITORING_DEGRADATION_FACTOR
in the metric's direction: degraded means `score > baseline × factor` for the error metrics (rmse,
mae, mape) and `(1 − r2) > (1 − baseline) × factor` for r2, where higher is better.

A baseline with zero error (a perfect score at election) has no usable threshold: every error
would count as degraded and start a retraining storm. The status then is `rebaseline`: the loop
adopts the next real score as the baseline instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models

from performance.metrics import error_form, higher_is_better
from registry.models import FieldBest


class Status(models.TextChoices):
    OK = "ok", "within the threshold"
    DEGRADED = "degraded", "degraded"
    REBASELINE = "rebaseline", "the baseline had zero error"
    NO_SCORE = "no_score", "no score"


@dataclass(frozen=True)
class Rule:
    metric: str
    baseline: float
    factor: float

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.metric)

    @property
    def threshold(self) -> float:
        """The score past which the best counts as degraded, in the metric's own units."""
        if self.higher_is_better:
            return 1 - (1 - self.baseline) * self.factor
        return self.baseline * self.factor

    def status(self, score: float | None) -> Status:
        if score is None:
            return Status.NO_SCORE
        if error_form(self.metric, self.baseline) <= 0:
            return Status.REBASELINE
        if error_form(self.metric, score) > error_form(self.metric, self.baseline) * self.factor:
            return Status.DEGRADED
        return Status.OK

    def degraded(self, score: float | None) -> bool | None:
        """None when there is no score to judge."""
        status = self.status(score)
        return None if status == Status.NO_SCORE else status == Status.DEGRADED


def factor() -> float:
    return settings.MONITORING_DEGRADATION_FACTOR


def rule(metric: str, baseline: float) -> Rule:
    return Rule(metric=metric, baseline=baseline, factor=factor())


def of(best: FieldBest) -> Rule:
    """The rule for a field's elected best (its metric and baseline)."""
    return rule(best.metric, best.baseline_score)
