"""Forecast many cells at once: one latest-windows read and one forward pass per chunk of cells.

The rules are the one-cell forecast's (`inference.forecasting`): the same model resolution, the
same "latest `lookback` windows complete after filling short gaps" rule (`contiguous_tails`
vectorised, `usable_tail` for the few cells with a gap; tested equal to `forecast_cell`), the
same steps (the first starts where the input ends). A cell that cannot be forecast is listed with
the reason instead of failing the batch.

1. Resolve the version once (the given model, else the field's elected best).
2. Read the latest `lookback` windows of a chunk of cells (`latest_windows_chunks`).
3. Find the cells whose tail is complete; stack their windows into one (n, lookback, inputs) array.
4. One `predict` for the chunk; stamp each cell's steps with window starts; list the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from inference import cache, intervals
from inference.forecasting import contiguous_tails, filled_tails, resolve
from inference.instruments import INFERENCE_SECONDS, INFERENCES
from telemetry.base import TelemetrySource
from telemetry.batch import WindowBatch, as_cells
from telemetry.sources import is_known_cell, latest_source


@dataclass(frozen=True)
class CellForecast:
    cell_id: int
    origin: int  # the start of the first forecast window (= the end of the last input window)
    input_start: int
    values: np.ndarray  # (forecast steps,) of the asked-for field, KPI units
    lower: np.ndarray | None = None  # (forecast steps,) at INTERVAL_COVERAGE; None: the version has no intervals
    upper: np.ndarray | None = None


@dataclass(frozen=True)
class Skipped:
    cell_id: int
    reason: str
    found: int | None = None


@dataclass
class BatchResult:
    entry: cache.Entry
    output_field: str
    window_seconds: int
    steps: int
    source: str
    forecasts: list[CellForecast] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: BatchResult) -> None:
        self.forecasts.extend(other.forecasts)
        self.skipped.extend(other.skipped)


def forecast_windows(entry: cache.Entry, batch: WindowBatch, output_field: str, *,
                     source_name: str, is_known: Callable[[int], bool] | None = None) -> BatchResult:
    """Forecast every cell of `batch` (the latest windows of each) that has a complete lookback.
    `is_known(cell)`: asked only of cells that cannot be forecast, to tell an unknown cell from a
    short one (None: not told)."""
    bundle = entry.loaded.bundle
    result = BatchResult(entry=entry, output_field=output_field, window_seconds=bundle.window_seconds,
                         steps=bundle.forecast, source=source_name)
    batch = batch.tail(bundle.lookback)
    inputs, outputs = bundle.input_fields, bundle.output_fields
    found = contiguous_tails(batch, inputs, outputs)
    filled = filled_tails(batch, inputs, outputs, found)  # cells with a gap: filling may bridge it
    for position, tail in filled.items():
        found[position] = tail.complete
    ready = found >= bundle.lookback
    for i in np.flatnonzero(~ready):
        cell = int(batch.cells[i])
        if is_known is not None and not is_known(cell):
            result.skipped.append(Skipped(cell, f"cell {cell} is unknown to {source_name}"))
        else:
            result.skipped.append(Skipped(
                cell, f"{int(found[i])} complete contiguous windows of {bundle.window_seconds} s at the end of its "
                      f"data; {entry.model_name} needs {bundle.lookback}", int(found[i])))
    if not ready.any():
        return result
    positions = np.flatnonzero(ready)
    cells = batch.cells[positions]
    n, lookback = len(cells), bundle.lookback
    x = np.empty((n, lookback, len(inputs)), batch.values.dtype)
    last = np.empty((n, len(outputs)), batch.values.dtype)
    past = np.empty((n, lookback, len(outputs)), batch.values.dtype)  # the interval's volatility group
    origins, starts = np.empty(n, np.int64), np.empty(n, np.int64)
    whole = np.array([p not in filled for p in positions], dtype=bool)
    if whole.any():  # each of these cells holds exactly `lookback` complete rows: one reshape
        rows = batch.take_cells(cells[whole])
        x[whole] = rows.select(inputs).values.reshape(int(whole.sum()), lookback, len(inputs))
        last_rows = rows.offsets[1:] - 1
        out_rows = rows.select(outputs).values
        last[whole] = out_rows[last_rows]
        past[whole] = out_rows.reshape(int(whole.sum()), lookback, len(outputs))
        origins[whole], starts[whole] = rows.end[last_rows], rows.start[rows.offsets[:-1]]
    for j in np.flatnonzero(~whole):  # the few whose lookback holds filled windows
        frame = filled[int(positions[j])].lookback(lookback)
        x[j] = frame.select(inputs).values
        past[j] = frame.select(outputs).values
        last[j] = past[j][-1]
        origins[j], starts[j] = frame.end[-1], frame.start[0]
    predicted = entry.loaded.predict(x, last)
    k = outputs.index(output_field)
    band = intervals.bounds(bundle, predicted, intervals.resolve_coverage(None), past)
    lower, upper = (None, None) if band is None else (band[0][:, :, k], band[1][:, :, k])
    values = predicted[:, :, k]
    result.forecasts = [CellForecast(int(c), int(o), int(s), values[j],
                                     None if lower is None else lower[j], None if upper is None else upper[j])
                        for j, (c, o, s) in enumerate(zip(cells, origins, starts, strict=True))]
    return result


def forecast_chunks(*, output_field: str, cells: Sequence[int] | np.ndarray | None = None, model_id=None,
                    version_id: int | None = None, chunk_size: int | None = None,
                    source: TelemetrySource | None = None) -> Iterator[BatchResult]:
    """One `BatchResult` per chunk of cells (every cell of the source when `cells` is None),
    read and forecast lazily. `version_id` pins a version (the schedule's chunks all run the
    version their run resolved); otherwise `model_id` or the field's best, as `resolve` says."""
    entry = cache.get(version_id) if version_id is not None else resolve(output_field, model_id)
    bundle = entry.loaded.bundle
    source = source or latest_source()
    wanted = as_cells(source.cells() if cells is None else cells)
    # Only given cells can be unknown; the source's cell list is kept per process (is_known_cell).
    known = None if cells is None else (lambda cell: is_known_cell(cell, source))
    fields = list(dict.fromkeys(bundle.input_fields + bundle.output_fields))
    for batch in source.latest_windows_chunks(cells=wanted, window_seconds=bundle.window_seconds,
                                              count=bundle.lookback, fields=fields, chunk_size=chunk_size):
        began = time.perf_counter()
        result = forecast_windows(entry, batch, output_field, source_name=source.name, is_known=known)
        if result.forecasts:
            INFERENCES.labels(model=str(entry.model_id), field=output_field).inc(len(result.forecasts))
            INFERENCE_SECONDS.labels(field=output_field).observe(time.perf_counter() - began)
        yield result


def forecast_batch(*, output_field: str, cells: Sequence[int] | np.ndarray | None = None, model_id=None,
                   version_id: int | None = None, chunk_size: int | None = None) -> BatchResult:
    """Every asked-for cell (default: all of the source's) in one result."""
    total = None
    for result in forecast_chunks(output_field=output_field, cells=cells, model_id=model_id,
                                  version_id=version_id, chunk_size=chunk_size):
        if total is None:
            total = result
        else:
            total.extend(result)
    if total is None:  # no cells at all
        entry = cache.get(version_id) if version_id is not None else resolve(output_field, model_id)
        bundle = entry.loaded.bundle
        total = BatchResult(entry=entry, output_field=output_field, window_seconds=bundle.window_seconds,
                            steps=bundle.forecast, source=latest_source().name)
    return total
