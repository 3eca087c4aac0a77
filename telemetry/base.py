"""The one interface every telemetry source implements.

Times are Unix seconds (int) inside telemetry; `now()` is the source's clock, which for the
bundled dataset is the end of the data (or the replay clock), not necessarily the wall clock.

Reads come in three sizes, all answering with the same windows (ascending, empty windows
removed, duplicates dropped, NaN = missing, gaps marked):

    one cell      windows(cell_index=…)            latest_windows(cell_index=…)        → WindowFrame
    many cells    windows_many(cells=[…])          latest_windows_many(cells=[…])      → WindowBatch
    a network     windows_chunks(cells=[…])        latest_windows_chunks(cells=[…])    → Iterator[WindowBatch]

- The one-cell calls are the one-cell case of the many-cell ones (one code path).
- `*_many` returns every asked-for cell (ascending, duplicates ignored) in one `WindowBatch`;
  cells without data and unknown cells are present with no windows, never an error.
- `*_chunks` yields one `WindowBatch` per chunk of cells and reads the next chunk only when the
  caller asks for it, so a caller that keeps what it needs from each chunk (samples, forecasts,
  a readiness row) holds one chunk at a time whatever the network size. A chunk holds at most
  `MAX_CHUNK_CELLS` cells and about `CHUNK_WINDOWS` windows (by the span asked for).
- `dtype=np.float32` halves the memory of values (training); the default float64 keeps the
  numbers exactly as stored.

A network-wide consumer (training samples, batch forecasts, readiness) looks like:

    for batch in source.windows_chunks(cells=source.cells(), window_seconds=60, start=a, end=b,
                                       fields=fields, dtype=np.float32):
        for frame in batch.frames():  # zero-copy views; or work on batch.values / batch.row_cells()
            keep(summarise(frame))     # keep the result, not the batch

A source implements `_windows_chunk` and `_latest_chunk` for one chunk of cells (an ascending
int64 array), each in bulk: one query (ClickHouse), concurrent requests (Data Storage API), or
array operations (bundled data).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np

from telemetry.batch import WindowBatch, as_cells, value_dtype
from telemetry.frame import WindowFrame

# A chunk: at most this many cells, and about this many windows (float64 with 5 fields: ~65 MB).
MAX_CHUNK_CELLS = 1000
CHUNK_WINDOWS = 1_000_000


def chunk_cells(windows_per_cell: int) -> int:
    """Cells per chunk so that a chunk holds about `CHUNK_WINDOWS` windows."""
    return max(1, min(MAX_CHUNK_CELLS, CHUNK_WINDOWS // max(1, int(windows_per_cell))))


class TelemetrySource(ABC):
    key: str  # settings value: embedded | data_storage | clickhouse
    name: str  # how errors and the health check name it

    @abstractmethod
    def columns(self) -> list[str]:
        """Every column the source knows, metadata included (field discovery filters them)."""

    @abstractmethod
    def cells(self) -> list[int]:
        """Cell indexes, ascending."""

    @abstractmethod
    def _windows_chunk(self, *, cells: np.ndarray, window_seconds: int, start: int, end: int,
                       fields: Sequence[str], dtype: np.dtype) -> WindowBatch:
        """Windows with start >= `start` and end <= `end` of each cell in `cells` (ascending)."""

    @abstractmethod
    def _latest_chunk(self, *, cells: np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
                      dtype: np.dtype) -> WindowBatch:
        """The most recent `count` windows of each cell in `cells` (fewer if it has fewer)."""

    # -- a network, one chunk of cells at a time --------------------------------------------------

    def windows_chunks(
        self, *, cells: Sequence[int] | np.ndarray, window_seconds: int, start: int, end: int,
        fields: Sequence[str], dtype: type | np.dtype | str = np.float64, chunk_size: int | None = None,
    ) -> Iterator[WindowBatch]:
        size = chunk_size or chunk_cells((end - start) // max(1, window_seconds))
        dtype = value_dtype(dtype)
        for chunk in _split(as_cells(cells), size):
            yield self._windows_chunk(cells=chunk, window_seconds=int(window_seconds), start=int(start),
                                      end=int(end), fields=tuple(fields), dtype=dtype)

    def latest_windows_chunks(
        self, *, cells: Sequence[int] | np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
        dtype: type | np.dtype | str = np.float64, chunk_size: int | None = None,
    ) -> Iterator[WindowBatch]:
        size = chunk_size or chunk_cells(count)
        dtype = value_dtype(dtype)
        for chunk in _split(as_cells(cells), size):
            yield self._latest_chunk(cells=chunk, window_seconds=int(window_seconds), count=int(count),
                                     fields=tuple(fields), dtype=dtype)

    # -- many cells in one batch ------------------------------------------------------------------

    def windows_many(
        self, *, cells: Sequence[int] | np.ndarray, window_seconds: int, start: int, end: int,
        fields: Sequence[str], dtype: type | np.dtype | str = np.float64,
    ) -> WindowBatch:
        chunks = list(self.windows_chunks(cells=cells, window_seconds=window_seconds, start=start, end=end,
                                          fields=fields, dtype=dtype))
        return _joined(chunks, window_seconds, fields, dtype)

    def latest_windows_many(
        self, *, cells: Sequence[int] | np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
        dtype: type | np.dtype | str = np.float64,
    ) -> WindowBatch:
        chunks = list(self.latest_windows_chunks(cells=cells, window_seconds=window_seconds, count=count,
                                                 fields=fields, dtype=dtype))
        return _joined(chunks, window_seconds, fields, dtype)

    # -- one cell ---------------------------------------------------------------------------------

    def windows(
        self, *, cell_index: int, window_seconds: int, start: int, end: int, fields: Sequence[str]
    ) -> WindowFrame:
        """Windows of one cell with start >= `start` and end <= `end`, ascending."""
        return self.windows_many(cells=[cell_index], window_seconds=window_seconds, start=start, end=end,
                                 fields=fields).frame(cell_index)

    def latest_windows(
        self, *, cell_index: int, window_seconds: int, count: int, fields: Sequence[str]
    ) -> WindowFrame:
        """The most recent `count` windows of a cell (fewer if the source has fewer)."""
        return self.latest_windows_many(cells=[cell_index], window_seconds=window_seconds, count=count,
                                        fields=fields).frame(cell_index)

    def now(self) -> int:
        return int(time.time())

    def identity(self) -> str:
        """What names this source's data across processes (cache keys): its address, not its object."""
        return self.key

    def check(self) -> None:
        """Raise `DependencyDown` when the source cannot answer (used by the health check)."""
        self.cells()


def _split(cells: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for begin in range(0, len(cells), size):
        yield cells[begin:begin + size]


def _joined(chunks: list[WindowBatch], window_seconds: int, fields: Sequence[str], dtype) -> WindowBatch:
    if not chunks:
        return WindowBatch.empty(cells=[], window_seconds=window_seconds, fields=fields, dtype=dtype)
    return WindowBatch.concat(chunks)
