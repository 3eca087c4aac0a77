"""Prediction intervals of a forecast: the version's calibrated residual quantiles
(`training.conformal`) around its point forecast, at the coverage asked for."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from core.errors import Invalid
from training.bundle import Bundle
from training.conformal import CoverageInvalid, check_coverage


def resolve_coverage(coverage: float | None) -> float:
    """The request's coverage, else INTERVAL_COVERAGE; Invalid (422) when it is no fraction in (0, 1)."""
    try:
        return check_coverage(settings.INTERVAL_COVERAGE if coverage is None else coverage)
    except CoverageInvalid as error:
        raise Invalid(str(error), coverage=coverage) from None


def bounds(bundle: Bundle, values: np.ndarray, coverage: float,
           forecaster: str = "model") -> tuple[np.ndarray, np.ndarray] | None:
    """(lower, upper), each shaped like `values` ((…, forecast, outputs)), or None for a
    version trained before intervals existed."""
    table = (bundle.intervals or {}).get(forecaster)
    if table is None:
        return None
    half = table.half_width(coverage)
    return values - half, values + half


def scores(bundle: Bundle, output_index: int, truth: np.ndarray, forecasts: dict[str, np.ndarray],
           coverage: float) -> dict[str, dict[str, float]]:
    """Empirical coverage and mean width at `coverage` of each forecaster's interval (the
    version's "model", and the naive forecasters calibrated with it) over truth (samples,
    forecast) of output `output_index`; forecasters without calibrated intervals are left out."""
    from training.conformal import empirical

    result = {}
    for name, prediction in forecasts.items():
        table = (bundle.intervals or {}).get(name)
        if table is not None:
            result[name] = empirical(truth, prediction, table.half_width(coverage)[:, output_index])
    return result
