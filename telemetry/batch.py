"""`WindowBatch`: the windows of many cells in one columnar block, what multi-cell reads return.

Row arrays hold every window of every cell, grouped by cell (cells ascending) and ascending by
start inside a cell; `offsets` says where each cell's rows lie. So a network is a handful of
numpy arrays, not one Python object per cell or per window, and `frame(cell)` is a zero-copy
`WindowFrame` view with the same semantics (empty windows removed, duplicates dropped, NaN =
missing, `gap_before` True at each cell's first window and at every break).

    batch.cells                     every cell asked for, ascending, with or without windows
    batch.counts                    windows per cell (0 for a cell without data or unknown)
    batch.frame(cell)               one cell as a WindowFrame (a view: no copy)
    batch.frames()                  every cell's frame, in order
    batch.row_cells()               the cell of each row, for vectorised work over the network
    batch.between/tail/select       the WindowFrame operations, applied to every cell at once
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from telemetry.frame import WindowFrame

VALUE_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def as_cells(cells: Sequence[int] | np.ndarray) -> np.ndarray:
    """Cell indexes as the ascending, duplicate-free int64 array every batch uses."""
    return np.unique(np.asarray(cells, dtype=np.int64).reshape(-1))


def value_dtype(dtype: type | np.dtype | str) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved not in VALUE_DTYPES:
        raise ValueError(f"window values are float64 or float32, not {resolved}")
    return resolved


@dataclass(frozen=True, eq=False)
class WindowBatch:
    window_seconds: int
    fields: tuple[str, ...]
    cells: np.ndarray  # int64 (k,), ascending, unique
    offsets: np.ndarray  # int64 (k + 1,): cell i owns rows offsets[i]:offsets[i + 1]
    start: np.ndarray  # int64 (n,) epoch seconds
    end: np.ndarray  # int64 (n,)
    values: np.ndarray  # float64 or float32 (n, len(fields)); NaN = missing
    sample_count: np.ndarray  # int64 (n,)
    gap_before: np.ndarray  # bool (n,)

    # -- building ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        *,
        cells: Sequence[int] | np.ndarray,
        window_seconds: int,
        fields: Sequence[str],
        cell_index: Sequence[int] | np.ndarray,
        start: Sequence[int] | np.ndarray,
        end: Sequence[int] | np.ndarray,
        values: np.ndarray,
        sample_count: Sequence[int] | np.ndarray,
        empty: Sequence[bool] | np.ndarray | None = None,
        dtype: type | np.dtype | str = np.float64,
    ) -> WindowBatch:
        """Rows in any order (a `cell_index` per row) → a batch over `cells`: rows of other cells
        and empty windows are dropped, the first of duplicate windows is kept (as
        `WindowFrame.build` does for one cell), gaps are marked."""
        cells = as_cells(cells)
        row_cell = np.asarray(cell_index, dtype=np.int64).reshape(-1)
        # Arrays under their own names (the parameters may be plain sequences).
        starts = np.asarray(start, dtype=np.int64).reshape(-1)
        ends = np.asarray(end, dtype=np.int64).reshape(-1)
        counts = np.asarray(sample_count, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=value_dtype(dtype)).reshape(len(starts), len(fields))
        keep = counts > 0
        if empty is not None:
            keep &= ~np.asarray(empty, dtype=bool)
        if not keep.all():
            row_cell, starts, ends, values, counts = (
                row_cell[keep], starts[keep], ends[keep], values[keep], counts[keep])
        if not _strictly_ascending(row_cell, starts):  # sources that sort in their query skip this
            order = np.lexsort((starts, row_cell))  # stable: the first of duplicates stays first
            row_cell, starts, ends, values, counts = (
                row_cell[order], starts[order], ends[order], values[order], counts[order])
            first = np.ones(len(starts), dtype=bool)
            first[1:] = (row_cell[1:] != row_cell[:-1]) | (starts[1:] != starts[:-1])
            if not first.all():
                row_cell, starts, ends, values, counts = (
                    row_cell[first], starts[first], ends[first], values[first], counts[first])
        low = np.searchsorted(row_cell, cells, side="left")
        high = np.searchsorted(row_cell, cells, side="right")
        if int((high - low).sum()) != len(row_cell):  # rows of cells not asked for
            mine = _ranges_mask(low, high, len(row_cell))
            row_cell, starts, ends, values, counts = (
                row_cell[mine], starts[mine], ends[mine], values[mine], counts[mine])
            high = np.cumsum(high - low)
        offsets = np.concatenate(([0], high)).astype(np.int64)
        return cls(int(window_seconds), tuple(fields), cells, offsets, starts, ends, values, counts,
                   _gaps(starts, ends, offsets))

    @classmethod
    def empty(cls, *, cells: Sequence[int] | np.ndarray, window_seconds: int, fields: Sequence[str],
              dtype: type | np.dtype | str = np.float64) -> WindowBatch:
        cells = as_cells(cells)
        nothing = np.empty(0, dtype=np.int64)
        return cls(int(window_seconds), tuple(fields), cells, np.zeros(len(cells) + 1, dtype=np.int64),
                   nothing, nothing, np.empty((0, len(fields)), dtype=value_dtype(dtype)), nothing,
                   np.empty(0, dtype=bool))

    @classmethod
    def from_frames(cls, frames: Sequence[WindowFrame], *, window_seconds: int, fields: Sequence[str],
                    dtype: type | np.dtype | str = np.float64) -> WindowBatch:
        """One batch from one frame per cell (each already sorted, without empty windows)."""
        if not frames:
            return cls.empty(cells=[], window_seconds=window_seconds, fields=fields, dtype=dtype)
        lengths = [len(f) for f in frames]
        return cls.build(
            cells=[f.cell_index for f in frames], window_seconds=window_seconds, fields=fields,
            cell_index=np.repeat([f.cell_index for f in frames], lengths),
            start=np.concatenate([f.start for f in frames]), end=np.concatenate([f.end for f in frames]),
            values=np.concatenate([f.select(fields).values for f in frames]),
            sample_count=np.concatenate([f.sample_count for f in frames]), dtype=dtype,
        )

    @classmethod
    def concat(cls, batches: Sequence[WindowBatch]) -> WindowBatch:
        """Batches over disjoint cells (same duration, fields and dtype) → one batch."""
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        return cls.build(
            cells=np.concatenate([b.cells for b in batches]), window_seconds=first.window_seconds,
            fields=first.fields, cell_index=np.concatenate([b.row_cells() for b in batches]),
            start=np.concatenate([b.start for b in batches]), end=np.concatenate([b.end for b in batches]),
            values=np.concatenate([b.values for b in batches]),
            sample_count=np.concatenate([b.sample_count for b in batches]), dtype=first.values.dtype,
        )

    # -- reading ----------------------------------------------------------------------------------

    @property
    def window_count(self) -> int:
        return len(self.start)

    @property
    def counts(self) -> np.ndarray:
        """Windows per cell, aligned with `cells`."""
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.cells, self.offsets, self.start, self.end, self.values,
                                      self.sample_count, self.gap_before))

    def row_cells(self) -> np.ndarray:
        return np.repeat(self.cells, self.counts)

    def position(self, cell_index: int) -> int:
        i = int(np.searchsorted(self.cells, cell_index))
        if i == len(self.cells) or self.cells[i] != cell_index:
            raise KeyError(f"cell {cell_index} is not in this batch")
        return i

    def frame(self, cell_index: int) -> WindowFrame:
        """One cell's windows as a `WindowFrame` (views of this batch's arrays)."""
        return self._frame_at(self.position(cell_index))

    def frames(self) -> Iterator[WindowFrame]:
        for i in range(len(self.cells)):
            yield self._frame_at(i)

    def _frame_at(self, i: int) -> WindowFrame:
        rows = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        return WindowFrame(int(self.cells[i]), self.window_seconds, self.fields, self.start[rows], self.end[rows],
                           self.values[rows], self.sample_count[rows], self.gap_before[rows])

    # -- the WindowFrame operations, for every cell at once ---------------------------------------

    def take(self, keep: np.ndarray) -> WindowBatch:
        """The rows where `keep` (a bool mask) is True; cells stay; gaps are marked again."""
        if keep.all():
            return self
        offsets = np.concatenate(([0], np.cumsum(keep)))[self.offsets].astype(np.int64)
        start, end = self.start[keep], self.end[keep]
        return WindowBatch(self.window_seconds, self.fields, self.cells, offsets, start, end, self.values[keep],
                           self.sample_count[keep], _gaps(start, end, offsets))

    def take_cells(self, cells: Sequence[int] | np.ndarray) -> WindowBatch:
        """The batch over `cells`: rows of the others dropped, cells not here get no windows."""
        cells = as_cells(cells)
        if len(cells) == len(self.cells) and (cells == self.cells).all():
            return self
        at = np.minimum(np.searchsorted(self.cells, cells), max(len(self.cells) - 1, 0))
        known = (self.cells[at] == cells) if len(self.cells) else np.zeros(len(cells), dtype=bool)
        low = np.where(known, self.offsets[at], 0)
        high = np.where(known, self.offsets[np.minimum(at + 1, len(self.cells))], 0)
        if len(cells) == 1:  # the one-cell read: a slice, no copy
            rows: slice | np.ndarray = slice(int(low[0]), int(high[0]))
        else:
            rows = np.flatnonzero(_ranges_mask(low, high, self.window_count))
        offsets = np.concatenate(([0], np.cumsum(high - low))).astype(np.int64)
        return WindowBatch(self.window_seconds, self.fields, cells, offsets, self.start[rows], self.end[rows],
                           self.values[rows], self.sample_count[rows], self.gap_before[rows])

    def between(self, start_time: int, end_time: int) -> WindowBatch:
        """Windows with start >= start_time and end <= end_time (the upstream API's rule)."""
        return self.take((self.start >= start_time) & (self.end <= end_time))

    def tail(self, count: int) -> WindowBatch:
        """The last `count` windows of every cell."""
        from_end = np.repeat(self.offsets[1:], self.counts) - np.arange(self.window_count)
        return self.take(from_end <= count)

    def select(self, fields: Sequence[str], dtype: type | np.dtype | str | None = None) -> WindowBatch:
        """The same windows with only (and in the order of) `fields`; unknown ones are NaN."""
        dtype = value_dtype(dtype or self.values.dtype)
        if tuple(fields) == self.fields and dtype == self.values.dtype:
            return self
        values = np.full((self.window_count, len(fields)), np.nan, dtype=dtype)
        for j, field in enumerate(fields):
            if field in self.fields:
                values[:, j] = self.values[:, self.fields.index(field)]
        return WindowBatch(self.window_seconds, tuple(fields), self.cells, self.offsets, self.start, self.end,
                           values, self.sample_count, self.gap_before)


def _strictly_ascending(row_cell: np.ndarray, start: np.ndarray) -> bool:
    """Rows grouped by ascending cell, strictly ascending start inside a cell (so no duplicates)."""
    if len(row_cell) < 2:
        return True
    same = row_cell[1:] == row_cell[:-1]
    return bool(((row_cell[1:] > row_cell[:-1]) | (same & (start[1:] > start[:-1]))).all())


def _ranges_mask(low: np.ndarray, high: np.ndarray, size: int) -> np.ndarray:
    """A bool mask of length `size`, True on every [low[i], high[i]) (ranges ascending, disjoint)."""
    marks = np.zeros(size + 1, dtype=np.int64)
    np.add.at(marks, low, 1)
    np.add.at(marks, high, -1)
    return np.cumsum(marks[:-1]) > 0


def _gaps(start: np.ndarray, end: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    gap_before = np.ones(len(start), dtype=bool)
    gap_before[1:] = start[1:] != end[:-1]
    firsts = offsets[:-1][offsets[:-1] < offsets[1:]]
    gap_before[firsts] = True
    return gap_before
