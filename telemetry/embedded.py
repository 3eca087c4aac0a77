"""`EmbeddedSource`: real 1 Hz records bundled with the project, aggregated on demand.

Aggregation follows the upstream processor: windows aligned to multiples of the duration since
the epoch, per KPI `_mean`, `_min`, `_max`, `_std` (sample std, 0 with one value; NaN values
ignored; NaN when a window has no value for that KPI) and `sample_count` (records in the window).

Clock: by default the data keeps its real timestamps and `now()` is the end of the data (the
next whole hour after the last record), so "the last 24 hours" means the last 24 hours of data.
Replay mode shifts every timestamp by the same whole number of hours so that, at the anchor
time, all but the last `lead_seconds` of the data lie in the past; the rest appears as the wall
clock passes it, so new windows keep arriving on one machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import DependencyDown
from telemetry import drift
from telemetry.base import TelemetrySource
from telemetry.batch import WindowBatch
from telemetry.gnettrack import KPIS

STATS = ("mean", "min", "max", "std")
METADATA_COLUMNS = (
    "window_start_time", "window_end_time", "window_duration_seconds", "cell_index", "network", "sample_count",
)
FIELDS = tuple(f"{kpi}_{stat}" for kpi in KPIS for stat in STATS)
HOUR = 3600


@dataclass(frozen=True)
class CellRecords:
    ts: np.ndarray  # int64, ascending
    values: np.ndarray  # float64 (n, len(KPIS))


def load_records(data_dirs: Sequence[Path]) -> dict[int, CellRecords]:
    """Read every compact `*.csv.gz` file in the folders into per-cell arrays."""
    import pandas as pd  # only needed here; keeps module import light

    files = sorted(p for d in data_dirs if Path(d).is_dir() for p in Path(d).glob("*.csv.gz"))
    if not files:
        return {}
    dtypes = {"ts": "int64", "cell_index": "int64", "network": "string", **{k: "float64" for k in KPIS}}
    table = pd.concat([pd.read_csv(f, dtype=dtypes) for f in files], ignore_index=True)
    table = table.sort_values(["cell_index", "ts"], kind="stable")
    cells = table["cell_index"].to_numpy()
    ts = table["ts"].to_numpy()
    values = table[list(KPIS)].to_numpy(dtype=np.float64)
    unique, first = np.unique(cells, return_index=True)
    bounds = np.append(first, len(cells))
    return {
        int(cell): CellRecords(ts[bounds[i]:bounds[i + 1]], values[bounds[i]:bounds[i + 1]])
        for i, cell in enumerate(unique)
    }


def aggregate(records: CellRecords, window_seconds: int, shift: int = 0,
              values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window start times, sample counts and the FIELDS matrix for one cell (vectorised)."""
    ts = records.ts + shift
    window = ts // window_seconds
    first = np.flatnonzero(np.concatenate(([True], window[1:] != window[:-1]))) if len(ts) else np.array([], int)
    counts = np.diff(np.append(first, len(ts)))
    if not len(first):
        return np.array([], np.int64), np.array([], np.int64), np.empty((0, len(FIELDS)))
    x = records.values if values is None else values
    valid = ~np.isnan(x)
    n = np.add.reduceat(valid.astype(np.int64), first, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(np.where(valid, x, 0.0), first, axis=0) / n
        low = np.fmin.reduceat(x, first, axis=0)
        high = np.fmax.reduceat(x, first, axis=0)
        deviation = np.where(valid, x - np.repeat(mean, counts, axis=0), 0.0)
        squares = np.add.reduceat(deviation**2, first, axis=0)
        std = np.where(n > 1, np.sqrt(squares / np.maximum(n - 1, 1)), 0.0)
    std = np.where(n == 0, np.nan, std)
    stats = np.stack([mean, low, high, std], axis=2)  # (windows, kpis, stats) matches FIELDS order
    return window[first] * window_seconds, counts, stats.reshape(len(first), len(FIELDS))


class EmbeddedSource(TelemetrySource):
    key = "embedded"
    name = "embedded dataset"

    def __init__(
        self,
        data_dirs: Sequence[Path],
        *,
        replay_anchor: int | None = None,
        replay_lead_seconds: int = 2 * HOUR,
        clock: Callable[[], float] = time.time,
        drift_path: Path | None = None,
    ) -> None:
        self.data_dirs = [Path(d) for d in data_dirs]
        self.drift_path = Path(drift_path) if drift_path else None
        self._drift_stamp: float | None = None
        self._drifts: list[drift.Drift] = []
        self.replay_anchor = replay_anchor
        self.replay_lead_seconds = replay_lead_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[int, CellRecords] | None = None
        self._networks = lru_cache(maxsize=8)(self._aggregate)  # per window duration

    def _follow_drift(self) -> None:
        """Re-read the drift file when it changes (one stat per call), dropping cached windows."""
        if self.drift_path is None:
            return
        stamp = self.drift_path.stat().st_mtime_ns if self.drift_path.exists() else None
        if stamp != self._drift_stamp:
            self._drifts = drift.read(self.drift_path)
            self._drift_stamp = stamp
            self._networks.cache_clear()

    @property
    def records(self) -> dict[int, CellRecords]:
        with self._lock:
            if self._records is None:
                self._records = load_records(self.data_dirs)
            return self._records

    @property
    def data_end(self) -> int:
        """Unix time of the last record (unshifted)."""
        return max((int(r.ts[-1]) for r in self.records.values() if len(r.ts)), default=0)

    @property
    def shift(self) -> int:
        if self.replay_anchor is None:
            return 0
        return (self.replay_anchor - (self.data_end - self.replay_lead_seconds)) // HOUR * HOUR

    def now(self) -> int:
        if self.replay_anchor is not None:
            return int(self.clock())
        return -(-(self.data_end + 1) // HOUR) * HOUR  # the next whole hour after the data

    def identity(self) -> str:
        return f"{self.key} {' '.join(map(str, self.data_dirs))} {self.replay_anchor} {self.drift_path}"

    def columns(self) -> list[str]:
        return [*METADATA_COLUMNS, *FIELDS]

    def cells(self) -> list[int]:
        return sorted(self.records)

    def check(self) -> None:
        """Up when there are measurement files, without reading them (the first read takes ~0.7 s)."""
        if not any(Path(d).is_dir() and any(Path(d).glob("*.csv.gz")) for d in self.data_dirs):
            raise DependencyDown(self.name, f"no measurement files in {', '.join(map(str, self.data_dirs))}")

    def _aggregate(self, window_seconds: int) -> WindowBatch:
        """Every cell's windows at one duration, all FIELDS (cached until the drift file changes)."""
        shift, cells, parts = self.shift, sorted(self.records), []
        for cell in cells:
            records = self.records[cell]
            drifted = drift.apply(records.values, records.ts + shift, cell, self._drifts)
            parts.append(aggregate(records, window_seconds, shift, drifted))
        if not parts:
            return WindowBatch.empty(cells=[], window_seconds=window_seconds, fields=FIELDS)
        start = np.concatenate([p[0] for p in parts])
        network = WindowBatch.build(
            cells=cells, window_seconds=window_seconds, fields=FIELDS,
            cell_index=np.repeat(cells, [len(p[0]) for p in parts]), start=start, end=start + window_seconds,
            values=np.concatenate([p[2] for p in parts]), sample_count=np.concatenate([p[1] for p in parts]),
        )
        for array in (network.start, network.end, network.values, network.sample_count, network.gap_before):
            array.flags.writeable = False  # reads may be views of this cache: nobody may change it
        return network

    def _network(self, window_seconds: int) -> WindowBatch:
        self._follow_drift()
        return self._networks(int(window_seconds))

    def _windows_chunk(self, *, cells: np.ndarray, window_seconds: int, start: int, end: int,
                       fields: Sequence[str], dtype: np.dtype) -> WindowBatch:
        chunk = self._network(window_seconds).take_cells(cells)
        return chunk.between(start, min(end, self.now())).select(fields, dtype)

    def _latest_chunk(self, *, cells: np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
                      dtype: np.dtype) -> WindowBatch:
        chunk = self._network(window_seconds).take_cells(cells)
        visible = chunk.take(chunk.end <= self.now())
        return visible.tail(count).select(fields, dtype)

    def clear_cache(self) -> None:
        with self._lock:
            self._records = None
        self._networks.cache_clear()
