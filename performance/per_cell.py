"""Additive error sums: per cell (stored with each evaluation) and per sample (the replay).

Every metric of `performance.metrics.compute` can be re-derived from a handful of sums over the
points it covers, so sums of any subset of cells or samples give that subset's metrics exactly
(to float rounding), and the cells' sums add up to the field's totals:

- points n, Σ truth, Σ truth² (r2's total variance: Σt² − (Σt)²/n)
- per forecaster: Σ error², Σ |error|, Σ |error| / |truth| over the mape points
- mape points: points whose truth is not (near) zero
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from performance import metrics
from performance.metrics import MAPE_ZERO

FORECASTERS = ("model", "persistence", "lookback_mean")
# The forecaster columns of a CellScore row, per forecaster: sse, sae, sape.
PARTS = ("sse", "sae", "sape")


def row_sums(truth: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sample sums over the forecast horizon: (samples,) arrays keyed `points`, `mape_points`,
    `truth_sum`, `truth_sq_sum` and `<forecaster>_<part>`. Truth and predictions are (samples, horizon)."""
    truth = np.asarray(truth, np.float64)
    nonzero = np.abs(truth) > MAPE_ZERO
    safe = np.where(nonzero, np.abs(truth), 1.0)
    sums = {
        "points": np.full(len(truth), truth.shape[1] if truth.ndim > 1 else 1, np.int64),
        "mape_points": nonzero.sum(axis=1).astype(np.int64),
        "truth_sum": truth.sum(axis=1), "truth_sq_sum": (truth**2).sum(axis=1),
    }
    for name, prediction in predictions.items():
        error = np.asarray(prediction, np.float64) - truth
        with np.errstate(invalid="ignore"):
            sums[f"{name}_sse"] = (error**2).sum(axis=1)
            sums[f"{name}_sae"] = np.abs(error).sum(axis=1)
            sums[f"{name}_sape"] = np.where(nonzero, np.abs(error) / safe, 0.0).sum(axis=1) * 100
    return sums


def total(sums: dict[str, np.ndarray]) -> dict[str, float]:
    return {key: (int(value.sum()) if key.endswith("points") else float(value.sum())) for key, value in sums.items()}


@dataclass(frozen=True)
class Sums:
    """One set of additive sums for one forecaster."""

    points: float
    mape_points: float
    truth_sum: float
    truth_sq_sum: float
    sse: float
    sae: float
    sape: float

    @classmethod
    def of(cls, row, forecaster: str) -> Sums:
        """From a dict of totals or a CellScore row."""
        def get(key: str) -> Any:
            return row[key] if isinstance(row, dict) else getattr(row, key)

        return cls(get("points"), get("mape_points"), get("truth_sum"), get("truth_sq_sum"),
                   get(f"{forecaster}_sse"), get(f"{forecaster}_sae"), get(f"{forecaster}_sape"))

    def metric(self, metric: str) -> float | None:
        return metric_of(metric, self.points, self.mape_points, self.truth_sum, self.truth_sq_sum,
                         self.sse, self.sae, self.sape)


def metric_of(metric: str, points, mape_points, truth_sum, truth_sq_sum, sse, sae, sape):
    """One metric from sums; scalars → float or None, arrays → float arrays with NaN."""
    scalar = np.ndim(points) == 0
    points = np.asarray(points, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "rmse":
            value = np.sqrt(sse / points)
        elif metric == "mae":
            value = sae / points
        elif metric == "mape":
            value = np.where(np.asarray(mape_points) > 0, sape / np.asarray(mape_points, np.float64), np.nan)
        elif metric == "r2":
            variance = truth_sq_sum - truth_sum**2 / points
            tiny = metrics.constant_truth(variance, truth_sq_sum)
            value = np.where(tiny, np.where(np.asarray(sse) == 0, 1.0, np.nan), 1 - sse / np.where(tiny, 1, variance))
        else:
            raise ValueError(f"unknown metric {metric!r}")
        value = np.where(points > 0, value, np.nan)
    if scalar:
        value = float(value)
        return None if math.isnan(value) else value
    return value.astype(np.float64)
