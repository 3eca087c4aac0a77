"""Prediction intervals (training.conformal): split conformal residual quantiles calibrated by
`fit_model`, checked on synthetic series whose noise is known."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from inference import intervals
from inference.predict import LoadedModel
from telemetry.frame import WindowFrame
from training import conformal
from training.bundle import Bundle
from training.fitting import FitConfig, fit_model
from training.sequences import build_samples, concat

LOOKBACK, FORECAST = 6, 2


def random_walk(cell: int, n: int, noise: float, seed: int) -> WindowFrame:
    """A KPI that moves by N(0, noise²) each window: persistence is the best forecast and its
    h-step error is N(0, h·noise²)."""
    values = np.cumsum(np.random.default_rng(seed).normal(0, noise, n)).reshape(n, 1) + 50
    start = np.arange(n) * 10
    return WindowFrame.build(cell_index=cell, window_seconds=10, fields=("a",), start=start, end=start + 10,
                             values=values, sample_count=np.ones(n))


def samples_of(frames):
    return concat([build_samples(f, inputs=["a"], outputs=["a"], lookback=LOOKBACK, forecast=FORECAST)
                   for f in frames])


def fitted(frames) -> LoadedModel:
    config = FitConfig(name="synthetic", architecture="linear", input_fields=["a"], output_fields=["a"],
                       window_seconds=10, lookback=LOOKBACK, forecast=FORECAST, hidden=8, validation_fraction=0.3)
    return LoadedModel.from_bundle(fit_model(config, samples_of(frames)).bundle)


def coverage_on(loaded: LoadedModel, frames, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the share of truths inside the interval, and the mean width."""
    test = samples_of(frames)
    values = loaded.predict(test.x, test.last)
    lower, upper = intervals.bounds(loaded.bundle, values, coverage, test.x)
    inside = (lower <= test.y) & (test.y <= upper)
    return inside.mean(axis=(0, 2)), (upper - lower).mean(axis=(0, 2))


def test_the_90_percent_interval_covers_90_percent_of_new_data_with_known_noise():
    loaded = fitted([random_walk(c, 1500, 1.0, seed=c) for c in range(4)])
    covered, width = coverage_on(loaded, [random_walk(100 + c, 1500, 1.0, seed=100 + c) for c in range(4)], 0.9)
    assert np.all((covered >= 0.88) & (covered <= 0.92)), covered
    # The half width is the noise's 95th percentile: 1.645 σ at h1, 1.645 σ √2 at h2.
    np.testing.assert_allclose(width / 2, [1.645, 1.645 * np.sqrt(2)], rtol=0.08)
    # A lower coverage narrows the band, and covers about what it says.
    covered_80, width_80 = coverage_on(loaded, [random_walk(200 + c, 1500, 1.0, seed=200 + c) for c in range(4)], 0.8)
    assert np.all(width_80 < width * 0.85) and np.all(np.abs(covered_80 - 0.8) < 0.025), covered_80


def test_intervals_follow_the_volatility_of_the_lookback():
    """Calm and stormy cells in one calibration split: each gets the coverage asked for, where one
    pooled quantile over-covers the calm cells and under-covers the stormy ones."""
    def cells(offset):
        return ([random_walk(offset + c, 1500, 0.2, seed=offset + c) for c in range(3)],
                [random_walk(offset + 50 + c, 1500, 2.0, seed=offset + 50 + c) for c in range(3)])

    calm, stormy = cells(0)
    loaded = fitted(calm + stormy)
    new_calm, new_stormy = cells(1000)
    for frames in (new_calm, new_stormy):
        covered, _ = coverage_on(loaded, frames, 0.9)
        assert np.all((covered >= 0.86) & (covered <= 0.94)), covered
    # Without the volatility (unknown: the output is not an input), the pooled quantile misses.
    test = samples_of(new_stormy)
    half = loaded.bundle.intervals["model"].half_width(0.9)  # pooled
    pooled = (np.abs(test.y - loaded.predict(test.x, test.last)) <= half).mean()
    assert pooled < 0.85


def test_naive_forecasters_are_calibrated_with_the_model_and_the_bundle_keeps_them():
    loaded = fitted([random_walk(c, 800, 1.0, seed=c) for c in range(3)])
    bundle = loaded.bundle
    assert set(bundle.intervals) == {"model", "persistence", "lookback_mean"}
    # Persistence is the best forecast of a random walk; the lookback mean lags it: wider.
    persistence = bundle.intervals["persistence"].half_width(0.9)
    assert np.all(bundle.intervals["lookback_mean"].half_width(0.9) > persistence * 1.2)
    buffer = io.BytesIO()
    torch.save(bundle.to_dict(), buffer)
    again = Bundle.from_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    for name, table in bundle.intervals.items():
        np.testing.assert_array_equal(again.intervals[name].half_width(0.75), table.half_width(0.75))


def test_the_finite_sample_level_and_an_old_bundle():
    table = conformal.ResidualQuantiles.fit(np.arange(1, 11, dtype=float).reshape(10, 1, 1), np.zeros((10, 1, 1)))
    # n = 10 residuals 1…10: coverage 0.8 needs the ⌈11·0.8⌉ = 9th smallest.
    assert table.half_width(0.8)[0, 0] == pytest.approx(9.0, abs=0.05)
    assert table.half_width(0.95)[0, 0] == pytest.approx(10.0)  # past the largest: the largest
    for bad in (0, 1, -0.1, 1.5, float("nan")):
        with pytest.raises(conformal.CoverageInvalid):
            table.half_width(bad)
    loaded = fitted([random_walk(c, 300, 1.0, seed=c) for c in range(2)])
    loaded.bundle.intervals = None  # trained before intervals existed
    assert intervals.bounds(loaded.bundle, np.zeros((1, FORECAST, 1)), 0.9, np.zeros((1, LOOKBACK, 1))) is None


def test_a_mostly_static_calibration_split_still_groups_the_samples_that_moved():
    """The bundled data's validation split is 87 % windows without any change: the few that
    moved must still get their own (wider) quantiles, not the pooled ones."""
    rng = np.random.default_rng(0)
    static, moving = 1300, 200
    sigma = np.concatenate([np.zeros(static), rng.uniform(0.5, 3, moving)])
    residual = np.concatenate([rng.normal(0, 0.1, static), rng.normal(0, 1, moving) * sigma[static:]])
    table = conformal.ResidualQuantiles.fit(residual.reshape(-1, 1, 1), np.zeros((len(residual), 1, 1)),
                                            sigma.reshape(-1, 1))
    assert table.counts[0, :5].tolist() == [static, 50, 50, 50, 50]  # "no change" + 4 groups of 50
    half = table.half_width(0.9, np.array([[0.0], [0.6], [2.9]]))[:, 0, 0]
    assert half[0] < 0.2 < half[1] < half[2]
    assert table.half_width(0.9)[0, 0] < half[1]  # pooled: dominated by the static windows
