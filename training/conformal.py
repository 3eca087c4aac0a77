"""Prediction intervals by split conformal prediction, per forecast step and output.

At training, the absolute residuals |truth − forecast| of a held-out calibration split (the
validation split: every cell's latest samples, never fitted on) are summarised per step
and output as their quantiles on a fixed grid of levels, in KPI units. Any coverage c is then
served from the grid: the interval is forecast ± the residual quantile at the finite-sample
level ⌈(n + 1)·c⌉ / n, which covers at least c of exchangeable new samples.

Residuals are grouped by the sample's recent volatility (the output's mean absolute change
over the lookback; Mondrian conformal): a static stretch and a drive through a handover need
very different intervals, and one pooled quantile covered 27–76 % instead of 90 % of the
bundled data's held-out truths for four of its five KPIs (a ridge model, 10 s windows, h1 and
h3; docs/accuracy.md has the grouped numbers). The groups: "no change at all" and the
quantiles (up to quintiles, MIN_GROUP samples each at least) of the calibration samples that
changed; a group with fewer than MIN_GROUP samples, or a sample whose volatility is unknown (the
output is not an input), uses the pooled quantiles.

The same summary is made for the naive forecasters (persistence, lookback mean) on the same
calibration samples, so their intervals are comparable to the model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Coarse below 0.8, fine above (where intervals are asked for); interpolated in between.
LEVELS = np.unique(np.concatenate([np.linspace(0, 0.8, 17), np.linspace(0.8, 0.99, 20), [0.995, 0.999, 1.0]]))
VOLATILITY_GROUPS = 5  # quantile groups of the samples that changed (plus one for "no change")
MIN_GROUP = 50  # calibration samples a group needs for its own quantiles
NAIVE_FORECASTERS = ("persistence", "lookback_mean")


class CoverageInvalid(ValueError):
    pass


def check_coverage(coverage: float) -> float:
    if not (isinstance(coverage, int | float) and 0 < coverage < 1) or math.isnan(coverage):
        raise CoverageInvalid(f"coverage must be a fraction strictly between 0 and 1, not {coverage!r}")
    return float(coverage)


def volatility(past: np.ndarray) -> np.ndarray:
    """(n, lookback, outputs) past output values → (n, outputs): mean absolute change; NaN when unknown."""
    change = np.abs(np.diff(np.asarray(past, np.float64), axis=1))
    count = np.isfinite(change).sum(axis=1)
    return np.where(count > 0, np.nansum(change, axis=1) / np.maximum(count, 1), np.nan)


def output_past(samples, *, input_fields: Sequence[str], output_fields: Sequence[str]) -> np.ndarray:
    """(n, lookback, outputs): each output's lookback values, from the inputs (NaN for an output
    that is not an input: the samples hold no other past values)."""
    n, lookback = samples.x.shape[:2]
    past = np.full((n, lookback, len(output_fields)), np.nan)
    for j, name in enumerate(output_fields):
        if name in input_fields:
            past[:, :, j] = samples.x[:, :, list(input_fields).index(name)]
    return past


@dataclass
class ResidualQuantiles:
    """Absolute residual quantiles of one forecaster, in KPI units.

    quantiles: (forecast, outputs, groups + 1, len(LEVELS)); the last group is the pooled one.
    counts: (outputs, groups + 1) calibration samples behind each group's quantiles.
    edges: (outputs, groups) upper volatility bounds of groups 0 … groups − 1 (group 0: no change).
    """

    quantiles: np.ndarray
    counts: np.ndarray
    edges: np.ndarray

    @property
    def samples(self) -> int:
        return int(self.counts[:, -1].min())

    @classmethod
    def fit(cls, truth: np.ndarray, prediction: np.ndarray, past_volatility: np.ndarray | None = None
            ) -> ResidualQuantiles:
        """truth, prediction: (n, forecast, outputs); past_volatility: (n, outputs) from
        `volatility` (None or NaN: pooled only). Samples with a NaN forecast (a lookback mean over
        missing values) are left out."""
        residual = np.abs(np.asarray(truth, np.float64) - np.asarray(prediction, np.float64))
        n, forecast, outputs = residual.shape
        if not n:
            raise ValueError("no calibration samples")
        if past_volatility is None:
            past_volatility = np.full((n, outputs), np.nan)
        groups = VOLATILITY_GROUPS + 1
        quantiles = np.zeros((forecast, outputs, groups + 1, len(LEVELS)), np.float32)
        counts = np.zeros((outputs, groups + 1), np.int64)
        edges = np.full((outputs, groups), np.inf)
        for j in range(outputs):
            ok = np.isfinite(residual[:, :, j]).all(axis=1)
            pooled = _quantiles(residual[ok, :, j])
            quantiles[:, j, -1], counts[j, -1] = pooled, ok.sum()
            sigma = past_volatility[:, j]
            moved = sigma[ok & np.isfinite(sigma) & (sigma > 0)]
            if len(moved):
                # As many groups as the samples that changed fill (MIN_GROUP each); unused ones stay empty.
                used = int(np.clip(len(moved) // MIN_GROUP, 1, VOLATILITY_GROUPS))
                edges[j, :used + 1] = np.concatenate(([0.0], np.quantile(moved, np.linspace(0, 1, used + 1)[1:-1]),
                                                      [np.inf]))
            group = _group(sigma, edges[j])
            for g in range(groups):
                members = ok & (group == g)
                if members.sum() >= MIN_GROUP:
                    quantiles[:, j, g], counts[j, g] = _quantiles(residual[members, :, j]), members.sum()
                else:
                    quantiles[:, j, g], counts[j, g] = pooled, ok.sum()
        return cls(quantiles, counts, edges)

    def half_width(self, coverage: float, past_volatility: np.ndarray | None = None) -> np.ndarray:
        """The interval's half width at `coverage`: (forecast, outputs) pooled, or per sample
        (n, forecast, outputs) for past_volatility (n, outputs)."""
        coverage = check_coverage(coverage)
        n = np.maximum(self.counts, 1)
        level = np.minimum(1.0, np.ceil((n + 1) * coverage) / n)  # the finite-sample correction, per group
        outputs = self.quantiles.shape[1]
        # Linear interpolation between grid levels (np.interp's arithmetic, for every step at once).
        low = np.clip(np.searchsorted(LEVELS, level, side="right") - 1, 0, len(LEVELS) - 2)  # (outputs, groups)
        fp = self.quantiles.astype(np.float64)
        fp_low = np.take_along_axis(fp, low[None, :, :, None], axis=-1)[..., 0]
        fp_high = np.take_along_axis(fp, low[None, :, :, None] + 1, axis=-1)[..., 0]
        slope = (fp_high - fp_low) / (LEVELS[low + 1] - LEVELS[low])
        # (forecast, outputs, groups)
        table = np.where(level >= LEVELS[-1], fp[..., -1], slope * (level - LEVELS[low]) + fp_low)
        if past_volatility is None:
            return table[:, :, -1]
        past_volatility = np.asarray(past_volatility, np.float64)
        group = np.stack([_group(past_volatility[:, j], self.edges[j]) for j in range(outputs)], axis=1)  # (n, outputs)
        return np.stack([table[:, j, group[:, j]].T for j in range(outputs)], axis=-1)

    def to_dict(self) -> dict:
        import torch  # only the bundle format needs tensors

        return {"quantiles": torch.from_numpy(np.ascontiguousarray(self.quantiles)),
                "counts": torch.from_numpy(np.ascontiguousarray(self.counts)),
                "edges": torch.from_numpy(np.ascontiguousarray(self.edges))}

    @classmethod
    def from_dict(cls, data: dict) -> ResidualQuantiles:
        quantiles = np.asarray(data["quantiles"], np.float32)
        if quantiles.shape[-1] != len(LEVELS):
            raise ValueError(f"interval quantiles on {quantiles.shape[-1]} levels, expected {len(LEVELS)}")
        return cls(quantiles, np.asarray(data["counts"], np.int64), np.asarray(data["edges"], np.float64))


def _quantiles(residual: np.ndarray) -> np.ndarray:
    """(n, forecast) → (forecast, levels)."""
    if not len(residual):
        return np.zeros((residual.shape[1], len(LEVELS)), np.float32)
    # inverted_cdf: the level-p quantile is the ⌈p·n⌉-th smallest residual, the conformal order statistic.
    return np.quantile(residual, LEVELS, axis=0, method="inverted_cdf").T.astype(np.float32)


def _group(sigma: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Group of each volatility: 0 for no change, k for (edges[k-1], edges[k]]; pooled (len(edges)) when unknown."""
    group = np.searchsorted(edges, np.where(np.isfinite(sigma), sigma, 0.0), side="left")
    return np.where(np.isfinite(sigma) & np.isfinite(edges[0]), np.minimum(group, len(edges) - 1), len(edges))


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
    past = volatility(output_past(samples, input_fields=input_fields, output_fields=output_fields))
    for name, prediction in naive_forecasts(samples, input_fields=input_fields, output_fields=output_fields).items():
        if np.isfinite(prediction).any(axis=(0, 1)).all():
            tables[name] = ResidualQuantiles.fit(samples.y, prediction, past)
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
