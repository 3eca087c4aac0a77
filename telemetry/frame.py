"""`WindowFrame`: the one type every source returns.

A frame holds one cell's windows at one window duration, ascending by start time, with empty
windows already removed. `gap_before[i]` is True when window i does not start where window i-1
ended (a missing or empty window lies between, or i is the first). Consumers that build
sequences must stay inside one segment (see `segments`). `fill_gaps` inserts the windows of
short gaps (interpolated) and marks them in `filled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class WindowFrame:
    cell_index: int
    window_seconds: int
    fields: tuple[str, ...]
    start: np.ndarray  # int64 epoch seconds
    end: np.ndarray  # int64 epoch seconds
    values: np.ndarray  # float64 (float32 when read so), shape (n, len(fields)); NaN = missing
    sample_count: np.ndarray  # int64
    gap_before: np.ndarray  # bool
    filled: np.ndarray | None = None  # bool: inserted by `fill_gaps` (None: nothing was filled)

    @classmethod
    def build(
        cls,
        *,
        cell_index: int,
        window_seconds: int,
        fields: Sequence[str],
        start: Sequence[int] | np.ndarray,
        end: Sequence[int] | np.ndarray,
        values: np.ndarray,
        sample_count: Sequence[int] | np.ndarray,
        empty: Sequence[bool] | np.ndarray | None = None,
    ) -> WindowFrame:
        """Sort rows by start, drop duplicates and empty windows, and mark the gaps."""
        start = np.asarray(start, dtype=np.int64)
        end = np.asarray(end, dtype=np.int64)
        sample_count = np.asarray(sample_count, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64).reshape(len(start), len(fields))
        keep = sample_count > 0
        if empty is not None:
            keep &= ~np.asarray(empty, dtype=bool)
        order = np.argsort(start, kind="stable")
        order = order[keep[order]]
        start, end, values, sample_count = start[order], end[order], values[order], sample_count[order]
        if len(start) > 1:  # the same window twice (overlapping pages): keep the first
            unique = np.concatenate(([True], start[1:] != start[:-1]))
            start, end, values, sample_count = start[unique], end[unique], values[unique], sample_count[unique]
        return cls(
            int(cell_index), int(window_seconds), tuple(fields), start, end, values, sample_count, _gaps(start, end)
        )

    @classmethod
    def empty(cls, *, cell_index: int, window_seconds: int, fields: Sequence[str]) -> WindowFrame:
        return cls.build(
            cell_index=cell_index, window_seconds=window_seconds, fields=fields,
            start=[], end=[], values=np.empty((0, len(fields))), sample_count=[],
        )

    def __len__(self) -> int:
        return len(self.start)

    def column(self, field: str) -> np.ndarray:
        return self.values[:, self.fields.index(field)]

    def select(self, fields: Sequence[str]) -> WindowFrame:
        """The same windows with only (and in the order of) `fields`; unknown ones are NaN."""
        columns = [
            self.values[:, self.fields.index(f)] if f in self.fields else np.full(len(self), np.nan)
            for f in fields
        ]
        values = np.column_stack(columns) if columns else np.empty((len(self), 0))
        return WindowFrame(
            self.cell_index, self.window_seconds, tuple(fields), self.start, self.end,
            values, self.sample_count, self.gap_before, self.filled,
        )

    def take(self, index: np.ndarray | slice) -> WindowFrame:
        """A subset of the windows (ascending order kept); gaps are marked again."""
        start, end = self.start[index], self.end[index]
        return WindowFrame(
            self.cell_index, self.window_seconds, self.fields, start, end,
            self.values[index], self.sample_count[index], _gaps(start, end),
            None if self.filled is None else self.filled[index],
        )

    def between(self, start_time: int, end_time: int) -> WindowFrame:
        """Windows with start >= start_time and end <= end_time (the upstream API's rule)."""
        return self.take(np.flatnonzero((self.start >= start_time) & (self.end <= end_time)))

    def tail(self, count: int) -> WindowFrame:
        return self.take(slice(max(0, len(self) - count), len(self)))

    def segments(self) -> list[tuple[int, int]]:
        """Index ranges [begin, stop) of runs of contiguous windows."""
        starts = np.flatnonzero(self.gap_before)
        stops = np.append(starts[1:], len(self))
        return list(zip(starts.tolist(), stops.tolist(), strict=False))

    def filled_mask(self) -> np.ndarray:
        return np.zeros(len(self), bool) if self.filled is None else self.filled

    def fill_gaps(self, max_windows: int) -> WindowFrame:
        """The same windows plus those of every gap of at most `max_windows` missing windows,
        their values interpolated linearly between the windows either side (a NaN either side
        stays NaN), `sample_count` 0 and `filled` True. Longer gaps stay gaps.

        Linear interpolation, not the last value: on the bundled data, a removed window is
        recovered with a lower error by interpolation for every KPI (bench/gap_filling.py).
        """
        n, step = len(self), self.window_seconds
        if n < 2 or max_windows < 1:
            return self
        hole = self.start[1:] - self.end[:-1]  # seconds missing before row i+1
        missing = np.where((hole > 0) & (hole % step == 0), hole // step, 0)
        missing = np.where(missing <= max_windows, missing, 0).astype(np.int64)
        total = int(missing.sum())
        if not total:
            return self
        after = np.repeat(np.arange(n - 1), missing)  # each inserted window follows original row `after`
        k = np.arange(total) - np.repeat(np.cumsum(missing) - missing, missing) + 1  # 1..m within its gap
        fraction = (k / (missing[after] + 1))[:, None]
        inserted = self.values[after] + (self.values[after + 1] - self.values[after]) * fraction
        inserted_start = self.end[after] + (k - 1) * step
        position = np.arange(n) + np.concatenate(([0], np.cumsum(missing)))  # originals' new rows
        size = n + total
        values = np.empty((size, self.values.shape[1]), self.values.dtype)
        start, end = np.empty(size, np.int64), np.empty(size, np.int64)
        count, filled = np.zeros(size, np.int64), np.ones(size, bool)
        values[position], start[position], count[position] = self.values, self.start, self.sample_count
        end[position], filled[position] = self.end, self.filled_mask()
        slots = np.setdiff1d(np.arange(size), position, assume_unique=True)
        values[slots], start[slots] = inserted.astype(self.values.dtype), inserted_start
        end[slots] = inserted_start + step
        return WindowFrame(self.cell_index, step, self.fields, start, end, values, count, _gaps(start, end), filled)

    def latest_run(self) -> WindowFrame:
        """The last run of contiguous windows (empty frame if there are none)."""
        if not len(self):
            return self
        return self.take(slice(self.segments()[-1][0], len(self)))


def _gaps(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    gap_before = np.ones(len(start), dtype=bool)
    gap_before[1:] = start[1:] != end[:-1]
    return gap_before
