import math

import numpy as np
import pytest

from performance import metrics


def test_metrics_against_hand_computed_values():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    prediction = np.array([2.0, 2.0, 2.0, 2.0])  # errors 1, 0, -1, -2
    m = metrics.compute(truth, prediction)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert m["mae"] == pytest.approx((1 + 0 + 1 + 2) / 4)
    assert m["mape"] == pytest.approx((1 / 1 + 0 / 2 + 1 / 3 + 2 / 4) / 4 * 100)
    assert m["r2"] == pytest.approx(1 - 6 / 5)  # SST = 2.25 + .25 + .25 + 2.25
    assert (m["points"], m["mape_skipped"]) == (4, 0)


def test_mape_skips_zero_truths_and_says_how_many():
    m = metrics.compute(np.array([0.0, 2.0, 0.0, -4.0]), np.array([1.0, 1.0, 1.0, -2.0]))
    assert m["mape"] == pytest.approx((0.5 + 0.5) / 2 * 100)
    assert m["mape_skipped"] == 2
    assert math.isnan(metrics.compute(np.zeros(3), np.ones(3))["mape"])


def test_perfect_and_constant_cases():
    assert metrics.compute(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["r2"] == 1.0
    assert metrics.compute(np.array([3.0, 3.0]), np.array([3.0, 3.0]))["r2"] == 1.0
    assert math.isnan(metrics.compute(np.array([3.0, 3.0]), np.array([2.0, 3.0]))["r2"])
    assert math.isnan(metrics.compute(np.array([]), np.array([]))["rmse"])


def test_direction_and_skill():
    assert metrics.higher_is_better("r2") and not metrics.higher_is_better("rmse")
    assert metrics.skill("rmse", 0.8, 1.0) == pytest.approx(0.2)
    assert metrics.skill("r2", 0.6, 0.2) == pytest.approx(1 - 0.4 / 0.8)  # in error form: 1 - r2
    assert metrics.skill("rmse", None, 1.0) is None and metrics.skill("rmse", 1.0, 0.0) is None
    # Degradation has one definition (performance.degradation): tests/performance/test_degradation.py
