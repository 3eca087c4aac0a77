"""Which cells can be forecast now: those whose latest windows hold a complete, contiguous
lookback for the model that would run. Operators pick from these instead of guessing.

1. Resolve the model exactly as a forecast would (404 / 409 / 422 alike).
2. The answer is cached per window (source, version, field, window): new data can only change it
   when a window closes, so it expires then (plus `LATEST_WINDOWS_CACHE_LAG_SECONDS`).
3. Otherwise read every cell's latest `lookback` windows chunk by chunk and apply
   `complete_tails`, the forecast's own rule, to each batch. ClickHouse and the bundled data:
   every cell in one pass (ClickHouse: one query per chunk of up to `CHUNK_CELLS` cells), no
   cut-off, straight from the source. Data Storage API (a request per cell): chunks of 4 × its concurrency read
   concurrently through the latest-windows cache until `READINESS_BUDGET_SECONDS` has passed;
   the cells left are listed as not checked. Callers asking at once share one scan (a
   `:computing` key added to the cache; the others wait for the answer).
4. Order: ready cells first, then by complete windows (most first), then by cell id; cells not
   checked last, in the source's order. `page()` filters (cell id search, ready or not) and pages.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache as django_cache

from inference.forecasting import complete_tails, resolve
from telemetry import latest_cache
from telemetry.base import CHUNK_WINDOWS, TelemetrySource
from telemetry.latest_cache import cache_call
from telemetry.sources import latest_source, listed_cells

CHUNK_CELLS = 10_000  # cells per read on sources that read a chunk in one query
SCAN_WAIT_SECONDS = 10.0  # how long a caller waits for another's scan of the same window (10k cells: 0.4-2 s)


@dataclass(frozen=True)
class CellReadiness:
    cell_id: int
    complete_windows: int | None  # None: not checked (the Data Storage budget ran out)
    needed: int

    @property
    def checked(self) -> bool:
        return self.complete_windows is not None

    @property
    def ready(self) -> bool:
        return self.complete_windows is not None and self.complete_windows >= self.needed


@dataclass
class Readiness:
    model_id: str
    model_name: str
    version: int
    needed: int
    cell_ids: np.ndarray  # int64, every cell in answer order (checked ones first)
    complete: np.ndarray  # int64 complete windows of the first `scanned` cells
    scanned: int
    window_end: int  # the readiness holds until the window ending here has closed

    @property
    def total_cells(self) -> int:
        return len(self.cell_ids)

    @property
    def ready_count(self) -> int:
        return int((self.complete >= self.needed).sum())

    @property
    def unchecked(self) -> list[int]:
        return self.cell_ids[self.scanned:].tolist()

    @property
    def cells(self) -> list[CellReadiness]:
        """The checked cells (every cell of the network: page() for a slice)."""
        return self._rows(np.arange(self.scanned))

    @property
    def ready_cells(self) -> list[int]:
        return self.cell_ids[:self.scanned][self.complete >= self.needed].tolist()

    def page(self, *, search: str = "", ready: bool | None = None, limit: int = 100,
             offset: int = 0) -> tuple[int, list[CellReadiness]]:
        """(cells matching, the page of them): `search` is part of the cell id; `ready` keeps
        ready (True) or not ready (False, the unchecked included) cells."""
        positions = np.arange(len(self.cell_ids))
        if search:
            text = self.cell_ids.astype(str)
            positions = positions[np.char.find(text, search.strip()) >= 0]
        if ready is not None:
            is_ready = np.zeros(len(self.cell_ids), dtype=bool)
            is_ready[:self.scanned] = self.complete >= self.needed
            positions = positions[is_ready[positions] == ready]
        return len(positions), self._rows(positions[offset:offset + limit])

    def _rows(self, positions: np.ndarray) -> list[CellReadiness]:
        complete = self.complete.tolist()
        return [CellReadiness(int(self.cell_ids[p]), complete[p] if p < self.scanned else None, self.needed)
                for p in positions.tolist()]


def cell_readiness(*, output_field: str, model_id=None) -> Readiness:
    """Every cell with its complete latest windows, ready cells first (cached per window)."""
    entry = resolve(output_field, model_id)  # 404 / 409 / 422 exactly as a forecast would
    bundle = entry.loaded.bundle
    source = latest_source()
    now = latest_cache.clock()
    expires = latest_cache.expires_at(bundle.window_seconds, now)
    window_end = int(round(expires - settings.LATEST_WINDOWS_CACHE_LAG_SECONDS))
    key = f"cellwise:readiness:{_digest(source.identity())}:{entry.version_id}:{output_field}:{window_end}"
    cached = cache_call(django_cache.get, key)
    if cached is not None:
        return cached
    # One computation per window: the first caller scans, the others (threads of this process,
    # or other processes on a shared cache) wait for its answer instead of scanning again. A
    # cache that is down costs scans, never the answer.
    computing = f"{key}:computing"
    if cache_call(django_cache.add, computing, 1, timeout=int(SCAN_WAIT_SECONDS) + 1) is False:
        found = _wait_for(key, computing)
        if found is not None:
            return found
    try:
        readiness = _compute(entry, source, window_end)
        cache_call(django_cache.set, key, readiness, max(1, int(np.ceil(expires - now))))
    finally:
        cache_call(django_cache.delete, computing)
    return readiness


def _wait_for(key: str, computing: str):
    """The other caller's answer, or None when it gave up (failed) or took longer than SCAN_WAIT_SECONDS."""
    deadline = time.monotonic() + SCAN_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
        found = cache_call(django_cache.get, key)
        if found is not None:
            return found
        if cache_call(django_cache.get, computing) is None:  # it ended without an answer: compute here
            return cache_call(django_cache.get, key)
    return None


def _compute(entry, source: TelemetrySource, window_end: int) -> Readiness:
    bundle = entry.loaded.bundle
    cells = np.asarray(listed_cells(source), dtype=np.int64)
    checked_cells, complete_windows = scan(source, cells, window_seconds=bundle.window_seconds,
                                           lookback=bundle.lookback, inputs=bundle.input_fields,
                                           outputs=bundle.output_fields)
    ready = complete_windows >= bundle.lookback
    order = np.lexsort((checked_cells, -complete_windows, ~ready))
    rest = cells[np.isin(cells, checked_cells, invert=True)]
    return Readiness(model_id=str(entry.model_id), model_name=entry.model_name, version=entry.version,
                     needed=bundle.lookback, cell_ids=np.concatenate([checked_cells[order], rest]),
                     complete=complete_windows[order], scanned=len(checked_cells), window_end=window_end)


def scan(source: TelemetrySource, cells: np.ndarray, *, window_seconds: int, lookback: int, inputs: list[str],
         outputs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(cells checked, their complete latest windows), in chunks (step 3 above)."""
    fields = list(dict.fromkeys(inputs + outputs))
    budgeted = source.key == "data_storage"
    if budgeted:  # a request per cell: small chunks, so the budget is checked often
        size = 4 * getattr(source, "concurrency", 1)
    else:
        size = max(1, min(CHUNK_CELLS, CHUNK_WINDOWS // lookback))
    deadline = time.monotonic() + settings.READINESS_BUDGET_SECONDS
    checked, complete = [], []
    for begin in range(0, len(cells), size):
        if budgeted and begin and time.monotonic() > deadline:  # the first chunk always runs
            break
        # Per-cell reads (Data Storage) go through the latest-windows cache: a cell forecast
        # lately costs nothing and the forecasts that follow are warm. A one-pass read skips it:
        # storing 10,000 entries cost more than the query (0.44 of 2.96 s, bench/scale.py).
        read = latest_cache.latest_windows_chunks if budgeted else _direct
        for batch in read(source, cells=cells[begin:begin + size], window_seconds=window_seconds, count=lookback,
                          fields=fields, chunk_size=size):
            checked.append(batch.cells)
            complete.append(complete_tails(batch, inputs, outputs))
    if not checked:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(checked), np.concatenate(complete)


def _direct(source: TelemetrySource, **read):
    return source.latest_windows_chunks(**read)


def _digest(identity: str) -> str:
    return hashlib.sha1(identity.encode()).hexdigest()[:20]
