"""Prediction intervals by split conformal prediction, per forecast step and output.

At training, the absolute residuals |truth − forecast| of a held-out calibration split (the
time-ordered validation split: the latest samples, never fitted on) are summarised per step
and output as their quantiles on a fixed grid of levels, in KPI units. Any coverage c is then
served from the grid: the interval is forecast ± the residual quantile at the finite-sample
level ⌈(n + 1)·c⌉ / n, which covers at least c of exchangeable new samples.

The same summary is made for the naive forecasters (persistence, lookback mean) on the same
calibration samples, so their intervals are comparable to the model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# 0, 0.005, …, 1: fine enough that interpolating between levels moves coverage by < 0.5 point.
LEVELS = np.linspace(0.0, 1.0, 201)
NAIVE_FORECASTERS = ("persistence", "lookback_mean")


class CoverageInvalid(ValueError):
    pass


def check_coverage(coverage: float) -> float:
    if not (isinstance(coverage, int | float) and 0 < coverage < 1) or math.isnan(coverage):
        raise CoverageInvalid(f"coverage must be a fraction strictly between 0 and 1, not {coverage!r}")
    return float(coverage)


@dataclass
class ResidualQuantiles:
    """Absolute residual quantiles of one forecaster: (forecast, outputs, len(LEVELS)), KPI units."""

    quantiles: np.ndarray
    samples: int  # calibration samples behind each quantile

    @classmethod
    def fit(cls, truth: np.ndarray, prediction: np.ndarray) -> ResidualQuantiles:
        """truth, prediction: (n, forecast, outputs). Samples with a NaN forecast (a lookback
        mean over missing values) are left out per step and output."""
        residual = np.abs(np.asarray(truth, np.float64) - np.asarray(prediction, np.float64))
        if not len(residual):
            raise ValueError("no calibration samples")
        with np.errstate(invalid="ignore"):
            quantiles = np.nanquantile(residual, LEVELS, axis=0)  # (levels, forecast, outputs)
        counts = np.isfinite(residual).sum(axis=0)
        return cls(np.moveaxis(quantiles, 0, -1).astype(np.float32), int(counts.min()))

    def half_width(self, coverage: float) -> np.ndarray:
        """(forecast, outputs): the interval's half width at `coverage`."""
        coverage = check_coverage(coverage)
        n = max(self.samples, 1)
        level = min(1.0, math.ceil((n + 1) * coverage) / n)  # the finite-sample correction
        position = level * (len(LEVELS) - 1)
        low = int(math.floor(position))
        high = min(low + 1, len(LEVELS) - 1)
        weight = position - low
        return ((1 - weight) * self.quantiles[..., low] + weight * self.quantiles[..., high]).astype(np.float64)

    def to_dict(self) -> dict:
        import torch  # only the bundle format needs tensors

        return {"quantiles": torch.from_numpy(np.ascontiguousarray(self.quantiles)), "samples": int(self.samples)}

    @classmethod
    def from_dict(cls, data: dict) -> ResidualQuantiles:
        quantiles = np.asarray(data["quantiles"], np.float32)
        if quantiles.shape[-1] != len(LEVELS):
            raise ValueError(f"interval quantiles on {quantiles.shape[-1]} levels, expected {len(LEVELS)}")
        return cls(quantiles, int(data["samples"]))


def naive_forecasts(samples, *, input_fields: Sequence[str], output_fields: Sequence[str]) -> dict[str, np.ndarray]:
    """Persistence and lookback-mean forecasts of a sample set, (n, forecast, outputs) in KPI
    units; the lookback mean only for outputs that are also inputs (the samples hold no other
    past values): NaN elsewhere."""
    n, forecast = samples.y.shape[:2]
    persistence = np.repeat(samples.last[:, None, :].astype(np.float64), forecast, axis=1)
    mean = np.full(persistence.shape, np.nan)
    for j, name in enumerate(output_fields):
        if name in input_fields:
            with np.errstate(invalid="ignore"):
                past = np.nanmean(samples.x[:, :, list(input_fields).index(name)].astype(np.float64), axis=1)
            mean[:, :, j] = past[:, None]
    return {"persistence": persistence, "lookback_mean": mean}


def naive_residual_quantiles(samples, *, input_fields: Sequence[str],
                             output_fields: Sequence[str]) -> dict[str, ResidualQuantiles]:
    """The naive forecasters' residual quantiles on a sample set (a calibration split); a
    forecaster it cannot compute for any output (lookback mean of an output that is not an
    input) is left out."""
    tables = {}
    for name, prediction in naive_forecasts(samples, input_fields=input_fields, output_fields=output_fields).items():
        if np.isfinite(prediction).any(axis=(0, 1)).all():
            tables[name] = ResidualQuantiles.fit(samples.y, prediction)
    return tables


def empirical(truth: np.ndarray, prediction: np.ndarray, half_width: np.ndarray) -> dict[str, float]:
    """Empirical coverage and mean width of forecast ± half_width over (n, forecast) points;
    half_width broadcasts against them (one per step)."""
    truth, prediction = np.asarray(truth, np.float64), np.asarray(prediction, np.float64)
    half_width = np.broadcast_to(np.asarray(half_width, np.float64), truth.shape)
    ok = np.isfinite(truth) & np.isfinite(prediction)
    if not ok.any():
        return {"coverage": math.nan, "mean_width": math.nan}
    covered = np.abs(truth - prediction)[ok] <= half_width[ok]
    return {"coverage": float(covered.mean()), "mean_width": float(2 * half_width[ok].mean())}
