"""Forecast the next windows of one cell with a model's version.

1. Resolve the model: the given id (it must forecast the field) or the field's elected best.
2. Read the cell's latest `lookback` windows (ClickHouse when configured, else the Data
   Storage API, else the bundled data); they must be contiguous and complete.
3. Run the cached version and stamp each step with its window start and end.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from core.errors import Conflict, Invalid, NotFound
from inference import cache
from inference.instruments import INFERENCE_SECONDS, INFERENCES
from registry import selectors as registry_selectors
from telemetry import latest_cache
from telemetry.batch import WindowBatch
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

    def as_dict(self) -> dict:
        return {
            "model_id": self.entry.model_id, "model_name": self.entry.model_name, "version": self.entry.version,
            "architecture": self.entry.architecture, "cell_id": self.cell_id, "output_field": self.output_field,
            "window_duration_seconds": self.window_seconds, "source": self.source,
            "input_start": _iso(self.input_start), "input_end": _iso(self.input_end), "predictions": self.steps,
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
    batch = WindowBatch(frame.window_seconds, frame.fields, np.array([frame.cell_index]),
                        np.array([0, len(frame)]), frame.start, frame.end, frame.values, frame.sample_count,
                        frame.gap_before)
    return int(complete_tails(batch, inputs, outputs)[0])


def complete_tails(batch: WindowBatch, inputs: list[str], outputs: list[str]) -> np.ndarray:
    """`complete_tail` of every cell of a batch at once (aligned with `batch.cells`): the one rule
    for "can this cell be forecast", shared by the forecast and the readiness scan."""
    fields = list(dict.fromkeys(inputs + outputs))
    ok = np.isfinite(batch.select(fields).values).all(axis=1)
    rows = np.arange(batch.window_count)
    # A run ends just after a window with a missing value, and at a window that follows a gap.
    barrier = np.where(~ok, rows + 1, np.where(batch.gap_before, rows, -1))
    counts = batch.counts
    tails = np.zeros(len(batch.cells), dtype=np.int64)
    present = counts > 0
    if present.any():
        last_barrier = np.maximum.reduceat(barrier, batch.offsets[:-1][present])
        tails[present] = batch.offsets[1:][present] - np.maximum(last_barrier, batch.offsets[:-1][present])
    return tails


def forecast_cell(*, output_field: str, cell_id: int, model_id=None) -> Forecast:
    began = time.perf_counter()
    entry = resolve(output_field, model_id)
    bundle = entry.loaded.bundle
    source = latest_source()
    fields = list(dict.fromkeys(bundle.input_fields + bundle.output_fields))
    frame = latest_cache.latest_windows(source, cell_index=cell_id, window_seconds=bundle.window_seconds,
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
    step_start = int(frame.end[-1])
    steps = []
    for k in range(bundle.forecast):
        start = step_start + k * bundle.window_seconds
        steps.append({"step": k + 1, "window_start": _iso(start), "window_end": _iso(start + bundle.window_seconds),
                      "values": {f: float(values[k, j]) for j, f in enumerate(bundle.output_fields)}})
    INFERENCES.labels(model=str(entry.model_id), field=output_field).inc()
    INFERENCE_SECONDS.labels(field=output_field).observe(time.perf_counter() - began)
    return Forecast(entry=entry, cell_id=cell_id, output_field=output_field,
                    window_seconds=bundle.window_seconds, input_start=int(frame.start[0]), input_end=int(frame.end[-1]),
                    source=source.name, steps=steps)
