"""The one definition of "degraded" (threshold, direction, zero-baseline rule)."""

from __future__ import annotations

import pytest

from performance import degradation
from performance.degradation import Rule, Status


def test_threshold_and_direction():
    assert Rule("rmse", 2.0, 1.5).threshold == 3.0
    assert Rule("r2", 0.8, 1.5).threshold == pytest.approx(0.7)
    assert Rule("r2", 0.8, 1.5).higher_is_better and not Rule("mae", 2.0, 1.5).higher_is_better
    rmse, r2 = Rule("rmse", 2.0, 1.5), Rule("r2", 0.8, 1.5)
    assert rmse.degraded(3.01) and not rmse.degraded(3.0)
    assert r2.degraded(0.69) and not r2.degraded(0.71)
    assert rmse.status(3.01) == Status.DEGRADED and rmse.status(1.0) == Status.OK


def test_no_score_is_no_verdict():
    assert Rule("rmse", 2.0, 1.5).status(None) == Status.NO_SCORE
    assert Rule("rmse", 2.0, 1.5).degraded(None) is None


def test_a_zero_error_baseline_asks_for_a_new_baseline_instead_of_degrading():
    assert Rule("rmse", 0.0, 1.5).status(0.5) == Status.REBASELINE
    assert Rule("r2", 1.0, 1.5).status(0.9) == Status.REBASELINE  # r2 of 1 is zero error
    assert Rule("rmse", 0.0, 1.5).degraded(0.5) is False


def test_the_factor_comes_from_the_settings(settings):
    settings.MONITORING_DEGRADATION_FACTOR = 2.0
    assert degradation.rule("mae", 1.5).threshold == 3.0
