"""Forecast the next windows of one cell with a model's version.

1. Resolve the model: the given id (it must forecast the field) or the field's elected best.
2. Read the cell's latest `lookback` windows (ClickHouse when configured, else the Data
   Storage API, else the bundled data); they must be contiguous and complete.
3. Run the cached version and stamp each step with its window start and end, and with its
   prediction interval at the coverage asked for (`inference.intervals`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from core.errors import Conflict, Invalid, NotFound
from inference import cache, intervals
from inference.instruments import INFERENCE_SECONDS, INFERENCES
from registry import selectors as registry_selectors
from telemetry.frame import WindowFrame
from telemetry.sources import is_known_cell, latest_source


@dataclass
class Forecast:
    entry: cache.Entry
    cell_id: int
    output_field: str
    window_seconds: int
    input_start: int
    input_end: int
    source: str
    steps: list[dict] = field(default_factory=list)
    coverage: float | None = None  # of every step's lower/upper; None: the version has no intervals

    def as_dict(self) -> dict:
        return {
            "model_id": self.entry.model_id, "model_name": self.entry.model_name, "version": self.entry.version,
            "architecture": self.entry.architecture, "cell_id": self.cell_id, "output_field": self.output_field,
            "window_duration_seconds": self.window_seconds, "source": self.source,
            "input_start": _iso(self.input_start), "input_end": _iso(self.input_end), "coverage": self.coverage,
            "predictions": self.steps,
        }


def _iso(timestamp: int) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


def resolve(output_field: str, model_id=None) -> cache.Entry:
    """The version to run: one small query on the hot path, the rest from the cache."""
    if model_id is not None:
        version_id = registry_selectors.latest_version_id(model_id) if _is_uuid(model_id) else None
        if version_id is None:
            model = registry_selectors.model_get(model_id)  # 404 when it does not exist
            raise Conflict(f"model {model.name} has no trained version yet; train it first")
        entry = cache.get(version_id)
        if output_field not in entry.loaded.bundle.output_fields:
            raise Invalid(f"model {entry.model_name} does not forecast {output_field} "
                          f"(it forecasts {', '.join(entry.loaded.bundle.output_fields)})")
        return entry
    version_id = registry_selectors.field_best_version_id(output_field)
    if version_id is None:
        raise Conflict(f"no best model is elected for {output_field} yet; evaluate the field first "
                       f"(POST /v1/performance/{output_field}/evaluate) or pass model_id")
    return cache.get(version_id)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def complete_tail(frame: WindowFrame, inputs: list[str], outputs: list[str]) -> int:
    """How many of the latest windows form one contiguous run with every input and output present."""
    if not len(frame):
        return 0
    ok = np.isfinite(frame.select(inputs).values).all(axis=1) & np.isfinite(frame.select(outputs).values).all(axis=1)
    count = 0
    for i in range(len(frame) - 1, -1, -1):  # at most `lookback` steps
        if not ok[i]:
            break
        count += 1
        if frame.gap_before[i]:
            break
    return count


def forecast_cell(*, output_field: str, cell_id: int, model_id=None, coverage: float | None = None) -> Forecast:
    began = time.perf_counter()
    coverage = intervals.resolve_coverage(coverage)  # a bad value fails before any I/O
    entry = resolve(output_field, model_id)
    bundle = entry.loaded.bundle
    source = latest_source()
    fields = list(dict.fromkeys(bundle.input_fields + bundle.output_fields))
    frame = source.latest_windows(cell_index=cell_id, window_seconds=bundle.window_seconds,
                                  count=bundle.lookback, fields=fields)
    found = complete_tail(frame, bundle.input_fields, bundle.output_fields)
    if found < bundle.lookback:
        if not is_known_cell(cell_id, source):  # only asked when the forecast cannot run
            raise NotFound(f"cell {cell_id} is unknown to {source.name} (GET /v1/inference/cells lists the cells)")
        raise Invalid(
            f"cell {cell_id} has {found} complete contiguous windows of {bundle.window_seconds} s at the end of "
            f"its data in {source.name}; {entry.model_name} needs {bundle.lookback}",
            found=found, needed=bundle.lookback,
        )
    x = frame.select(bundle.input_fields).values[None, :, :]
    last = frame.select(bundle.output_fields).values[-1][None, :]
    values = entry.loaded.predict(x, last)[0]
    past = frame.select(bundle.output_fields).values[None, :, :]
    band = intervals.bounds(bundle, values[None], coverage, past)
    band = None if band is None else (band[0][0], band[1][0])
    step_start = int(frame.end[-1])
    steps = []
    for k in range(bundle.forecast):
        start = step_start + k * bundle.window_seconds
        steps.append({"step": k + 1, "window_start": _iso(start), "window_end": _iso(start + bundle.window_seconds),
                      "values": {f: float(values[k, j]) for j, f in enumerate(bundle.output_fields)},
                      **_band(band, k, bundle.output_fields)})
    INFERENCES.labels(model=str(entry.model_id), field=output_field).inc()
    INFERENCE_SECONDS.labels(field=output_field).observe(time.perf_counter() - began)
    return Forecast(entry=entry, cell_id=cell_id, output_field=output_field,
                    window_seconds=bundle.window_seconds, input_start=int(frame.start[0]), input_end=int(frame.end[-1]),
                    source=source.name, steps=steps, coverage=coverage if band is not None else None)


def _band(band: tuple[np.ndarray, np.ndarray] | None, k: int, outputs: list[str]) -> dict:
    if band is None:
        return {"lower": None, "upper": None}
    lower, upper = band
    return {"lower": {f: float(lower[k, j]) for j, f in enumerate(outputs)},
            "upper": {f: float(upper[k, j]) for j, f in enumerate(outputs)}}
