"""Forecast error metrics. Lower is better for rmse, mae and mape; higher for r2.

mape skips points whose truth is (near) zero and reports how many it skipped: a KPI in dB
crosses zero, and |error| / |truth| there is meaningless.
"""

from __future__ import annotations

import math

import numpy as np

METRICS = ("rmse", "mae", "mape", "r2")
MAPE_ZERO = 1e-9


def constant_truth(variance, truth_sq_sum):
    """Whether a truth's total variance Σ(t − mean)² is rounding dust of a constant truth: the
    mean of equal values is not always exactly them, which left ~1e-30 and an r2 of ±1e31.
    One rule for `compute` and the per-cell sums (`per_cell.metric_of`); works on arrays."""
    return np.asarray(variance) <= 1e-12 * np.maximum(truth_sq_sum, 1.0)


def compute(truth: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """All metrics over every point; NaN when there are no points."""
    truth, prediction = np.asarray(truth, float).ravel(), np.asarray(prediction, float).ravel()
    if not len(truth):
        return {"rmse": math.nan, "mae": math.nan, "mape": math.nan, "r2": math.nan, "mape_skipped": 0, "points": 0}
    error = prediction - truth
    nonzero = np.abs(truth) > MAPE_ZERO
    total = float(((truth - truth.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "mape": float(np.mean(np.abs(error[nonzero]) / np.abs(truth[nonzero])) * 100) if nonzero.any() else math.nan,
        # r2 of a constant truth is undefined unless the forecast is exact.
        "r2": (float(1 - (error**2).sum() / total) if not constant_truth(total, float((truth**2).sum()))
               else (1.0 if not error.any() else math.nan)),
        "mape_skipped": int((~nonzero).sum()),
        "points": int(len(truth)),
    }


def higher_is_better(metric: str) -> bool:
    return metric == "r2"


def error_form(metric: str, score: float) -> float:
    """A lower-is-better number for any metric (r2 → 1 − r2)."""
    return 1 - score if higher_is_better(metric) else score


def skill(metric: str, score: float | None, reference: float | None) -> float | None:
    """1 − model error / reference error: > 0 beats the reference, 0 ties it."""
    if score is None or reference is None or math.isnan(score) or math.isnan(reference):
        return None
    reference_error = error_form(metric, reference)
    if reference_error == 0:
        return None
    return 1 - error_form(metric, score) / reference_error


def threshold(metric: str, baseline: float, factor: float) -> float:
    """The score past which the best model counts as degraded (in the metric's own units)."""
    return 1 - (1 - baseline) * factor if higher_is_better(metric) else baseline * factor


def degraded(metric: str, score: float, baseline: float, factor: float) -> bool:
    return error_form(metric, score) > error_form(metric, baseline) * factor
