"""Prediction intervals of a forecast: the version's calibrated residual quantiles
(`training.conformal`) around its point forecast, at the coverage asked for."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from core.errors import Invalid
from training.bundle import Bundle
from training.conformal import CoverageInvalid, check_coverage, empirical, volatility


def resolve_coverage(coverage: float | None) -> float:
    """The request's coverage, else INTERVAL_COVERAGE; Invalid (422) when it is no fraction in (0, 1)."""
    try:
        return check_coverage(settings.INTERVAL_COVERAGE if coverage is None else coverage)
    except CoverageInvalid as error:
        raise Invalid(str(error), coverage=coverage) from None


def bounds(bundle: Bundle, values: np.ndarray, coverage: float, past: np.ndarray,
           forecaster: str = "model") -> tuple[np.ndarray, np.ndarray] | None:
    """(lower, upper) around `values` (n, forecast, outputs), given each sample's past output
    values `past` (n, lookback, outputs) (their volatility picks the residual group); None for a
    version trained before intervals existed."""
    table = (bundle.intervals or {}).get(forecaster)
    if table is None:
        return None
    half = table.half_width(coverage, volatility(past))
    return values - half, values + half


def scores(bundle: Bundle, output_index: int, truth: np.ndarray, forecasts: dict[str, np.ndarray],
           past: np.ndarray, coverage: float) -> dict[str, dict[str, float]]:
    """Empirical coverage and mean width at `coverage` of each forecaster's interval (the
    version's "model", and the naive forecasters calibrated with it) over truth (samples,
    forecast) of output `output_index`, whose past values are `past` (samples, lookback);
    forecasters without calibrated intervals are left out."""
    sigma = np.full((len(truth), len(bundle.output_fields)), np.nan)
    sigma[:, output_index] = volatility(np.asarray(past, np.float64)[:, :, None])[:, 0]
    result = {}
    for name, prediction in forecasts.items():
        table = (bundle.intervals or {}).get(name)
        if table is not None:
            result[name] = empirical(truth, prediction, table.half_width(coverage, sigma)[:, :, output_index])
    return result
