"""Forecast the next windows of one cell with a model's version.

1. Resolve the model: the given id (it must forecast the field) or the field's elected best.
2. Read the cell's latest `lookback` windows (ClickHouse when configured, else the Data
   Storage API, else the bundled data); fill gaps of up to MAX_FILLED_WINDOWS windows in all
   (`usable_tail`, the rule the readiness scan shares); the lookback must then be complete.
3. Run the cached version and stamp each step with its window start and end, and with its
   prediction interval at the coverage asked for (`inference.intervals`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.conf import settings

from core.errors import Conflict, Invalid, NotFound
from inference import cache, intervals
from inference.instruments import INFERENCE_SECONDS, INFERENCES
from registry import selectors as registry_selectors
from telemetry import latest_cache
from telemetry.batch import WindowBatch
from telemetry.frame import WindowFrame
from telemetry.sources import is_known_cell, latest_source
from training.architectures import is_naive
from training.sequences import fill_for_samples


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
    filled_windows: int = 0
    coverage: float | None = None  # of every step's lower/upper; None: the version has no intervals

    def as_dict(self) -> dict:
        return {
            "model_id": self.entry.model_id, "model_name": self.entry.model_name, "version": self.entry.version,
            "architecture": self.entry.architecture, "cell_id": self.cell_id, "output_field": self.output_field,
            "window_duration_seconds": self.window_seconds, "source": self.source,
            "input_start": _iso(self.input_start), "input_end": _iso(self.input_end),
            "filled_windows": self.filled_windows, "naive": is_naive(self.entry.architecture),
            "coverage": self.coverage,
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


@dataclass(frozen=True)
class Tail:
    """The latest windows that can feed a forecast, after filling short gaps."""

    frame: WindowFrame  # filled; its last `complete` windows are the usable run
    complete: int  # how many of the latest windows form one complete run (filled ones included)
    filled: int  # filled windows among them
    gap_windows: int  # missing windows of the gap that ended the run (0: a missing value or the data's start)

    def lookback(self, count: int) -> WindowFrame:
        return self.frame.tail(count)


def usable_tail(frame: WindowFrame, inputs: list[str], outputs: list[str], *,
                max_filled: int | None = None, limit: int | None = None) -> Tail:
    """Fill gaps of up to `max_filled` windows (default MAX_FILLED_WINDOWS), then walk back
    from the newest window while every input and output is present, no unfilled gap breaks the
    run and at most `max_filled` windows are filled; stop after `limit` windows."""
    max_filled = settings.MAX_FILLED_WINDOWS if max_filled is None else max_filled
    filled_frame = fill_for_samples(frame, max_filled)
    n = len(filled_frame)
    if not n:
        return Tail(filled_frame, 0, 0, 0)
    ok = (np.isfinite(filled_frame.select(inputs).values).all(axis=1)
          & np.isfinite(filled_frame.select(outputs).values).all(axis=1))
    mask = filled_frame.filled_mask()
    count = filled = gap = 0
    for i in range(n - 1, -1, -1):  # at most `limit` (the lookback) steps
        if not ok[i] or (mask[i] and filled >= max_filled) or (limit is not None and count >= limit):
            break
        count += 1
        filled += int(mask[i])
        if filled_frame.gap_before[i]:
            if i:
                gap = int((filled_frame.start[i] - filled_frame.end[i - 1]) // filled_frame.window_seconds)
            break
    return Tail(filled_frame, count, filled, gap)


def complete_tail(frame: WindowFrame, inputs: list[str], outputs: list[str]) -> int:
    """How many of the latest windows form one complete run after filling short gaps (the
    readiness scan's rule: the same as a forecast's), at most as many as were read."""
    return usable_tail(frame, inputs, outputs, limit=len(frame)).complete


def contiguous_tails(batch: WindowBatch, inputs: list[str], outputs: list[str]) -> np.ndarray:
    """Per cell of `batch` (aligned with `batch.cells`), vectorised: how many of its latest
    windows form one contiguous run with every input and output present, before any filling."""
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


def filled_tails(batch: WindowBatch, inputs: list[str], outputs: list[str],
                 plain: np.ndarray) -> dict[int, Tail]:
    """`usable_tail` of the cells whose windows read are not all one complete run (`plain`, from
    `contiguous_tails`, short of the cell's count): filling may bridge their gaps. By position."""
    if settings.MAX_FILLED_WINDOWS <= 0:
        return {}
    tails = {}
    for i in np.flatnonzero(plain < batch.counts):
        frame = batch.frame(int(batch.cells[i]))
        tails[int(i)] = usable_tail(frame, inputs, outputs, limit=len(frame))
    return tails


def complete_tails(batch: WindowBatch, inputs: list[str], outputs: list[str]) -> np.ndarray:
    """`complete_tail` of every cell of a batch at once (aligned with `batch.cells`), for the
    readiness scan and batch forecasts: vectorised for cells whose every window read is complete
    (no filling needed), `usable_tail` (the one rule) for the others."""
    tails = contiguous_tails(batch, inputs, outputs)
    for i, tail in filled_tails(batch, inputs, outputs, tails).items():
        tails[i] = tail.complete
    return tails


def forecast_cell(*, output_field: str, cell_id: int, model_id=None, coverage: float | None = None) -> Forecast:
    began = time.perf_counter()
    coverage = intervals.resolve_coverage(coverage)  # a bad value fails before any I/O
    entry = resolve(output_field, model_id)
    bundle = entry.loaded.bundle
    source = latest_source()
    fields = list(dict.fromkeys(bundle.input_fields + bundle.output_fields))
    frame = latest_cache.latest_windows(source, cell_index=cell_id, window_seconds=bundle.window_seconds,
                                        count=bundle.lookback, fields=fields)
    tail = usable_tail(frame, bundle.input_fields, bundle.output_fields, limit=bundle.lookback)
    found = tail.complete
    if found < bundle.lookback:
        if not is_known_cell(cell_id, source):  # only asked when the forecast cannot run
            raise NotFound(f"cell {cell_id} is unknown to {source.name} (GET /v1/inference/cells lists the cells)")
        most = settings.MAX_FILLED_WINDOWS
        why = (f"; before them {tail.gap_windows} windows are missing (at most {most} are filled)"
               if tail.gap_windows else "")
        raise Invalid(
            f"cell {cell_id} has {found} complete contiguous windows of {bundle.window_seconds} s at the end of "
            f"its data in {source.name}{why}; {entry.model_name} needs {bundle.lookback}",
            found=found, needed=bundle.lookback, gap_windows=tail.gap_windows, max_filled_windows=most,
            filled_windows=tail.filled,
        )
    frame = tail.lookback(bundle.lookback)
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
                    source=source.name, steps=steps, filled_windows=int(frame.filled_mask().sum()),
                    coverage=coverage if band is not None else None)


def _band(band: tuple[np.ndarray, np.ndarray] | None, k: int, outputs: list[str]) -> dict:
    if band is None:
        return {"lower": None, "upper": None}
    lower, upper = band
    return {"lower": {f: float(lower[k, j]) for j, f in enumerate(outputs)},
            "upper": {f: float(upper[k, j]) for j, f in enumerate(outputs)}}
