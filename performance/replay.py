"""Retrain-policy replay: how a monitoring policy (factor, interval) would have behaved over the
last days, before the loop is switched on. It reads only; it never trains.

1. The field's best version, metric and baseline (`registry.FieldBest`); check times
   t_k = now − days + k × interval, k = 1 … N, as the loop's grid would have placed them.
2. One read of every evaluation cell's windows over [now − days − EVALUATION_SPAN_SECONDS, now];
   every valid sample of every cell built and predicted once (the evaluation's code:
   `build_samples`, the cached bundle's `predict`, `naive_forecasts` untouched), and its error
   sums per sample (performance/per_cell.py), sorted by time.
3. The score at t_k is the metric over the samples a check at t_k would have scored — inside
   [max(t_k − span, trained_until), t_k] — from prefix sums: O(1) per check, all checks at once.
   The loop thins each cell to EVALUATION_MAX_ORIGINS_PER_CELL evenly spaced origins; the
   replay scores every origin (the thinned score is an even subsample of this one).
4. Each factor's verdicts come from `degradation.Rule.status`, the loop's own rule, check by
   check. A degraded check while monitoring is a retrain trigger; the loop is then away for
   `retrain_seconds` (retraining and evaluating), after which the best and its baseline are
   unchanged (the replay cannot know what retraining would have produced), so a field that
   stays degraded triggers again: an upper bound on retraining. A zero-error baseline is
   replaced by the next score, as the loop's rebaseline does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field as dataclass_field

import numpy as np
from django.conf import settings

from core.errors import Conflict, Invalid, NotFound
from inference import cache
from performance import degradation, per_cell
from performance.scoring import EvaluationData, naive_forecasts
from registry import selectors as registry_selectors
from registry.models import FieldBest
from training.models import JobStatus, TrainingJob
from training.sequences import build_samples

DAY = 86_400
PREDICT_BATCH = 65_536


@dataclass
class Policy:
    factor: float
    threshold: float
    triggers: list[int]  # Unix seconds of each check that would have started a retraining
    degraded_checks: int
    degraded_seconds: int  # checks past the threshold × interval: time spent degraded
    first_trigger_at: int | None


@dataclass
class Replay:
    field: str
    model_id: str
    model_name: str
    version: int
    metric: str
    baseline: float
    interval_seconds: int
    days: float
    retrain_seconds: int
    span_seconds: int
    at: np.ndarray  # (checks,) Unix seconds
    score: np.ndarray  # (checks,) NaN where a check would have had no samples
    samples: np.ndarray  # (checks,)
    policies: list[Policy] = dataclass_field(default_factory=list)
    seconds: float = 0.0

    @property
    def checks(self) -> int:
        return len(self.at)


@dataclass
class SampleSums:
    """Every sample's error sums, sorted by its first window's start."""

    start: np.ndarray
    end: np.ndarray
    sums: dict[str, np.ndarray]
    cell: np.ndarray

    @classmethod
    def empty(cls) -> SampleSums:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), {}, np.zeros(0, np.int64))


def sample_sums(version_id, output_field: str, data: EvaluationData, start: int) -> SampleSums:
    """Step 2: predict every sample of the version once, keep its sums (and its naive forecasters')."""
    try:
        loaded = cache.get(version_id).loaded
    except cache.VersionUnusable as error:
        raise Conflict(f"the best version cannot be loaded: {error.message}") from error
    bundle = loaded.bundle
    j = bundle.output_fields.index(output_field)
    width = bundle.lookback + bundle.forecast
    batch = data.source.windows_many(cells=data.cells, window_seconds=bundle.window_seconds, start=start,
                                     end=data.now, fields=data.fields)
    starts, ends, cells, parts = [], [], [], []
    for frame in batch.frames():
        samples = build_samples(frame, inputs=bundle.input_fields, outputs=bundle.output_fields,
                                lookback=bundle.lookback, forecast=bundle.forecast)
        if not len(samples):
            continue
        truth = samples.y[:, :, j].astype(np.float64)
        prediction = np.concatenate([loaded.predict(samples.x[i:i + PREDICT_BATCH], samples.last[i:i + PREDICT_BATCH])
                                     for i in range(0, len(samples), PREDICT_BATCH)])[:, :, j]
        starts.append(frame.start[samples.index])
        ends.append(frame.end[samples.index + width - 1])
        cells.append(np.full(len(samples), frame.cell_index, np.int64))
        naive = naive_forecasts(samples, frame, output_field, j)
        parts.append(per_cell.row_sums(truth, {"model": prediction, **naive}))
    if not parts:
        return SampleSums.empty()
    start_times = np.concatenate(starts).astype(np.int64)
    order = np.argsort(start_times, kind="stable")
    return SampleSums(start_times[order], np.concatenate(ends).astype(np.int64)[order],
                      {key: np.concatenate([p[key] for p in parts])[order] for key in parts[0]},
                      np.concatenate(cells)[order])


def scores_at(sums: SampleSums, at: np.ndarray, low: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: the metric over samples with start ≥ low[k] and end ≤ at[k], for every k at once.
    The samples' span (end − start) is one constant per version, so both bounds cut the same
    sorted order and each check's samples are one contiguous run."""
    if not len(sums.start):
        return np.full(len(at), np.nan), np.zeros(len(at), np.int64)
    width = int(sums.end[0] - sums.start[0])
    first = np.searchsorted(sums.start, low, side="left")
    stop = np.searchsorted(sums.start, at - width, side="right")
    stop = np.maximum(stop, first)

    def window(key: str) -> np.ndarray:
        prefix = np.concatenate([[0], np.cumsum(sums.sums[key])])
        return prefix[stop] - prefix[first]

    points = window("points")
    score = per_cell.metric_of(metric, points, window("mape_points"), window("truth_sum"), window("truth_sq_sum"),
                               window("model_sse"), window("model_sae"), window("model_sape"))
    samples = stop - first
    return np.where(samples > 0, score, np.nan), samples


def apply_policy(*, metric: str, baseline: float, factor: float, at: np.ndarray, score: np.ndarray,
                 interval_seconds: int, retrain_seconds: int) -> Policy:
    """Step 4: the loop's rule, check by check."""
    rule = degradation.Rule(metric=metric, baseline=baseline, factor=factor)
    triggers: list[int] = []
    degraded_checks = 0
    away_until = -math.inf
    for t, value in zip(at.tolist(), score.tolist(), strict=True):
        status = rule.status(None if math.isnan(value) else value)
        if status == degradation.Status.REBASELINE:
            rule = degradation.Rule(metric=metric, baseline=value, factor=factor)
            continue
        if status != degradation.Status.DEGRADED:
            continue
        degraded_checks += 1
        if t >= away_until:
            triggers.append(int(t))
            away_until = t + max(retrain_seconds, 1)
    return Policy(factor=factor, threshold=rule.threshold, triggers=triggers, degraded_checks=degraded_checks,
                  degraded_seconds=degraded_checks * interval_seconds,
                  first_trigger_at=triggers[0] if triggers else None)


def _default_retrain_seconds(best: FieldBest, interval: int) -> int:
    """The best model's newest completed training, else one interval."""
    job = (TrainingJob.objects.filter(model_id=best.model_id, status=JobStatus.COMPLETED, started_at__isnull=False,
                                      completed_at__isnull=False).order_by("-completed_at").first())
    if job is None:
        return interval
    assert job.completed_at is not None and job.started_at is not None  # filtered above
    return max(1, int((job.completed_at - job.started_at).total_seconds()))


def replay(*, field: str, factors: list[float], interval_seconds: int, days: float,
           retrain_seconds: int | None = None, data: EvaluationData | None = None) -> Replay:
    began = time.perf_counter()
    if not factors or any(not math.isfinite(f) or f < 1 for f in factors):
        raise Invalid("factors must be one or more numbers ≥ 1")
    if interval_seconds < 10:
        raise Invalid("interval_seconds must be at least 10")
    if not (0 < days <= 400):
        raise Invalid("days must be in (0, 400]")
    checks = int(days * DAY // interval_seconds)
    if checks > settings.REPLAY_MAX_CHECKS:
        raise Invalid(f"{checks} checks asked; at most {settings.REPLAY_MAX_CHECKS} (REPLAY_MAX_CHECKS): "
                      "lengthen the interval or shorten the days")
    best = registry_selectors.field_best(field)
    if best is None:
        raise NotFound(f"no best model is elected for {field}; evaluate the field first")
    data = data or EvaluationData(sorted(set(best.model.input_fields + best.model.output_fields)))
    span = settings.EVALUATION_SPAN_SECONDS
    at = data.now - int(days * DAY) + interval_seconds * np.arange(1, checks + 1, dtype=np.int64)
    low = at - span
    if best.version.trained_until is not None:
        low = np.maximum(low, int(best.version.trained_until.timestamp()))
    sums = sample_sums(best.version_id, field, data, start=int(at[0] - span) if checks else data.now)
    score, samples = scores_at(sums, at, low, best.metric)
    retrain = _default_retrain_seconds(best, interval_seconds) if retrain_seconds is None else int(retrain_seconds)
    result = Replay(field=field, model_id=str(best.model_id), model_name=best.model.name,
                    version=best.version.version, metric=best.metric, baseline=best.baseline_score,
                    interval_seconds=interval_seconds, days=days, retrain_seconds=retrain, span_seconds=span,
                    at=at, score=score, samples=samples)
    result.policies = [apply_policy(metric=best.metric, baseline=best.baseline_score, factor=f, at=at, score=score,
                                    interval_seconds=interval_seconds, retrain_seconds=retrain)
                       for f in sorted(set(factors))]
    result.seconds = time.perf_counter() - began
    return result
