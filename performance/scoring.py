"""Score a model version on one field over recent windows it never trained on.

1. Window: [max(now − EVALUATION_SPAN_SECONDS, version.trained_until), now] of the history
   source, for up to EVALUATION_MAX_CELLS cells (the frames are read once per evaluation and
   shared by every model with the same window duration).
2. Samples: every valid origin of every cell (gap-aware, as in training), thinned evenly to
   EVALUATION_MAX_ORIGINS_PER_CELL per cell.
3. The model and three naive forecasters on the same samples: persistence (the last value),
   the lookback mean, and seasonal naive (the same window one day earlier, where the data has
   it; scored on that subset, whose size is reported).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from inference import cache
from performance import metrics
from registry.models import ModelConfig, ModelVersion
from telemetry.base import TelemetrySource
from telemetry.frame import WindowFrame
from telemetry.sources import history_source
from training.sequences import SampleSet, build_samples

DAY = 86_400


@dataclass
class ModelScore:
    model: ModelConfig
    version: ModelVersion | None
    metrics: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: int = 0
    cells: int = 0
    note: str = ""

    def score(self, metric: str) -> float | None:
        value = self.metrics.get(metric)
        return None if value is None or math.isnan(value) else value

    def baseline(self, name: str, metric: str) -> float | None:
        value = self.baselines.get(name, {}).get(metric)
        return None if value is None or math.isnan(value) else value


class EvaluationData:
    """The history source's frames for one evaluation, fetched once per (cell, window duration)."""

    def __init__(self, fields: list[str], source: TelemetrySource | None = None) -> None:
        self.source = source or history_source()
        self.now = self.source.now()
        self.start = self.now - settings.EVALUATION_SPAN_SECONDS
        self.fields = fields
        self._cells: list[int] | None = None
        self._frames: dict[tuple[int, int], WindowFrame] = {}

    @property
    def cells(self) -> list[int]:
        if self._cells is None:
            self._cells = list(settings.EVALUATION_CELLS) or self.source.cells()[: settings.EVALUATION_MAX_CELLS]
        return self._cells

    def frame(self, cell: int, window_seconds: int) -> WindowFrame:
        """From one day before the span (for seasonal naive) to now; the first ask for a window
        duration reads every evaluation cell in one many-cell read."""
        key = (cell, window_seconds)
        if key not in self._frames:
            cells = self.cells if cell in self.cells else [cell]
            batch = self.source.windows_many(cells=cells, window_seconds=window_seconds, start=self.start - DAY,
                                             end=self.now, fields=self.fields)
            self._frames.update(((f.cell_index, window_seconds), f) for f in batch.frames())
        return self._frames[key]


def _thin(count: int, most: int) -> np.ndarray:
    if count <= most:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, most).round().astype(int))


def naive_forecasts(samples: SampleSet, frame: WindowFrame, output_field: str, j: int) -> dict[str, np.ndarray]:
    """Persistence (the last value) and the lookback mean of output `j` for every sample of
    `frame`, (samples, forecast) in KPI units."""
    lookback, forecast = samples.x.shape[1], samples.y.shape[1]
    persistence = np.repeat(samples.last[:, j:j + 1].astype(np.float64), forecast, axis=1)
    past = np.take(frame.column(output_field), samples.index[:, None] + np.arange(lookback))
    with np.errstate(invalid="ignore"):
        mean = np.repeat(np.nanmean(past, axis=1, keepdims=True), forecast, axis=1)
    return {"persistence": persistence, "lookback_mean": mean}


def score_version(model: ModelConfig, version: ModelVersion | None, output_field: str,
                  data: EvaluationData) -> ModelScore:
    result = ModelScore(model=model, version=version)
    if version is None:
        result.note = "no trained version"
        return result
    try:
        loaded = cache.get(version.id).loaded
    except cache.VersionUnusable as error:  # its bundle is gone: null with the reason, the others still compete
        result.note = error.message
        return result
    bundle = loaded.bundle
    j = bundle.output_fields.index(output_field)
    start = data.start
    if version.trained_until is not None:
        start = max(start, int(version.trained_until.timestamp()))
    truths, predictions, persistence, means, seasonal_truth, seasonal = [], [], [], [], [], []
    for cell in data.cells:
        full = data.frame(cell, bundle.window_seconds)
        frame = full.between(start, data.now)
        samples = build_samples(frame, inputs=bundle.input_fields, outputs=bundle.output_fields,
                                lookback=bundle.lookback, forecast=bundle.forecast)
        if not len(samples):
            continue
        samples = samples.take(_thin(len(samples), settings.EVALUATION_MAX_ORIGINS_PER_CELL))
        result.cells += 1
        truth = samples.y[:, :, j].astype(np.float64)
        truths.append(truth)
        predictions.append(loaded.predict(samples.x, samples.last)[:, :, j])
        naive = naive_forecasts(samples, frame, output_field, j)
        persistence.append(naive["persistence"])
        means.append(naive["lookback_mean"])
        # Seasonal naive: the value of the same window one day earlier, where it exists.
        target_starts = np.take(frame.start, samples.index[:, None] + bundle.lookback + np.arange(bundle.forecast))
        position = np.clip(np.searchsorted(full.start, target_starts - DAY), 0, max(len(full) - 1, 0))
        earlier = np.where(full.start[position] == target_starts - DAY, full.column(output_field)[position], np.nan)
        has_day = np.isfinite(earlier).all(axis=1)
        seasonal_truth.append(truth[has_day])
        seasonal.append(earlier[has_day])
    if not truths:
        result.note = "no complete samples in the evaluation window"
        return result
    truth = np.concatenate(truths)
    result.samples = len(truth)
    result.metrics = metrics.compute(truth, np.concatenate(predictions))
    result.baselines = {
        "persistence": metrics.compute(truth, np.concatenate(persistence)),
        "lookback_mean": metrics.compute(truth, np.concatenate(means)),
        "seasonal_naive": metrics.compute(np.concatenate(seasonal_truth), np.concatenate(seasonal)),
    }
    result.baselines["seasonal_naive"]["samples"] = int(sum(len(s) for s in seasonal))
    return result


def record_fields(result: ModelScore, metric: str) -> dict[str, Any]:
    """The ScoreRecord columns for a result."""
    score = result.score(metric)
    persistence = result.baseline("persistence", metric)
    return {
        "model_id": result.model.id, "model_name": result.model.name,
        "version": result.version.version if result.version else None, "metric": metric, "score": score,
        "persistence_score": persistence, "lookback_mean_score": result.baseline("lookback_mean", metric),
        "seasonal_naive_score": result.baseline("seasonal_naive", metric),
        "skill_vs_persistence": metrics.skill(metric, score, persistence),
        "samples": result.samples, "cells": result.cells, "note": result.note,
        "details": _json_safe({"model": result.metrics, **result.baselines}),
    }


def _json_safe(value: Any) -> Any:
    """NaN → None: PostgreSQL's jsonb refuses NaN."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
