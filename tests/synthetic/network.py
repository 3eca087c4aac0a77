"""A synthetic network: N cells of dense, cell-level KPI windows, seeded and reproducible.

Test and benchmark tooling (not app code). Each cell's series is a pure function of
(seed, cell index, span), drawn from its own random generator, so a cell reads the same whether
it is generated alone (the Data Storage test server, per request) or with thousands of others
(the ClickHouse loader, per chunk); nothing needs to hold the whole network.

Per cell:
- a daily load curve (busy hour in the evening, its own phase and depth) that lowers SINR,
  RSRQ, CQI and throughput while it is high;
- autocorrelated noise on every KPI (geometric moving average, ~12 windows of memory);
- levels and ranges of a real 5G cell: RSRP −140…−44 dBm (a fixed level per cell), RSRQ
  −19.5…−3 dB, SINR −10…35 dB, CQI 0…15, downlink throughput 0.1…1500 Mbit/s;
- gaps: single missing windows, outages (runs of missing windows, 5 min to 3 h), empty windows
  (`sample_count` 0, values missing) and missing values (NaN) per KPI.

Rows come as the upstream stores them: missing windows absent, empty windows present with
`sample_count == 0`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

DAY = 86_400
KPIS = ("rsrp", "rsrq", "sinr", "cqi", "dl_bitrate")
STATS = ("mean", "min", "max", "std")
RANGES = {"rsrp": (-140.0, -44.0), "rsrq": (-19.5, -3.0), "sinr": (-10.0, 35.0), "cqi": (0.0, 15.0),
          "dl_bitrate": (0.1, 1500.0)}
SPREAD = (1.5, 0.8, 2.0, 1.0, 40.0)  # within-window std scale per KPI, for _min/_max/_std
NOISE_MEMORY = 0.92  # geometric weights φ^k of the noise's moving average
NOISE_TAPS = 64  # φ^64 ≈ 0.005: the truncation is below the noise itself


@dataclass(frozen=True)
class Rows:
    """Windows of one or more cells as columns (ascending by cell, then start)."""

    fields: tuple[str, ...]
    cell_index: np.ndarray  # int64 (n,)
    start: np.ndarray  # int64 (n,)
    end: np.ndarray  # int64 (n,)
    sample_count: np.ndarray  # int64 (n,); 0 = an empty window
    values: np.ndarray  # float64 (n, len(fields)); NaN = missing

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def concat(cls, parts: Sequence[Rows], fields: Sequence[str]) -> Rows:
        if not parts:
            nothing = np.empty(0, dtype=np.int64)
            return cls(tuple(fields), nothing, nothing, nothing, nothing, np.empty((0, len(fields))))
        return cls(tuple(fields), *(np.concatenate([getattr(p, name) for p in parts]) for name in
                                    ("cell_index", "start", "end", "sample_count", "values")))


@dataclass(frozen=True)
class SyntheticNetwork:
    cells: int = 100  # cells that report windows
    window_seconds: int = 60
    days: float = 2.0
    end: int = 1_767_225_600  # 2026-01-01T00:00:00Z: the last window ends here
    seed: int = 0
    silent_cells: int = 0  # listed by the cell endpoint, never report a window
    stats: tuple[str, ...] = ("mean",)
    missing_rate: float = 0.002  # a single window missing
    outages_per_day: float = 0.3  # runs of missing windows, per cell
    empty_rate: float = 0.001  # sample_count 0
    nan_rate: float = 0.002  # one KPI's value missing in a window
    first_cell: int = 1_000_000
    cell_step: int = 7  # cell indexes are not contiguous

    def __post_init__(self) -> None:
        unknown = set(self.stats) - set(STATS)
        if unknown or not self.stats:
            raise ValueError(f"stats must come from {STATS}, got {self.stats}")
        if self.end % self.window_seconds:
            raise ValueError("end must be a multiple of the window duration (windows are aligned)")

    @property
    def steps(self) -> int:
        return int(self.days * DAY) // self.window_seconds

    @property
    def start(self) -> int:
        return self.end - self.steps * self.window_seconds

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f"{kpi}_{stat}" for kpi in KPIS for stat in self.stats)

    def cell_ids(self) -> np.ndarray:
        """Cells that report windows, ascending."""
        return self.first_cell + self.cell_step * np.arange(self.cells, dtype=np.int64)

    def listed_cells(self) -> np.ndarray:
        """What the cell endpoint lists: the reporting cells, then the silent ones."""
        return self.first_cell + self.cell_step * np.arange(self.cells + self.silent_cells, dtype=np.int64)

    def windows_total(self) -> int:
        """Rows over the whole network (an upper bound on non-empty windows)."""
        return sum(len(self.cell(int(c))) for c in self.cell_ids())

    def rows(self, cells: Sequence[int] | np.ndarray) -> Rows:
        return Rows.concat([self.cell(int(c)) for c in np.unique(np.asarray(cells, dtype=np.int64))], self.fields)

    def chunks(self, size: int) -> Iterator[Rows]:
        ids = self.cell_ids()
        for begin in range(0, len(ids), size):
            yield self.rows(ids[begin:begin + size])

    def cell(self, cell_index: int) -> Rows:
        """One cell's rows; none for a silent or unknown cell."""
        position, remainder = divmod(int(cell_index) - self.first_cell, self.cell_step)
        if remainder or not 0 <= position < self.cells:
            return Rows.concat([], self.fields)
        rng = np.random.default_rng([self.seed, int(cell_index)])
        steps, width = self.steps, self.window_seconds
        start = self.start + width * np.arange(steps, dtype=np.int64)
        kpis, load = self._kpis(rng, start)  # (steps, len(KPIS)), (steps,)
        keep = rng.random(steps) >= self.missing_rate
        for _ in range(rng.poisson(self.outages_per_day * self.days)):
            first = int(rng.integers(0, steps))
            length = int(np.ceil(rng.uniform(300, 3 * 3600) / width))
            keep[first:first + length] = False
        empty = rng.random(steps) < self.empty_rate
        kpis[rng.random(kpis.shape) < self.nan_rate] = np.nan
        kpis[empty] = np.nan
        sample_count = np.where(empty, 0, 20 + np.round(100 * load).astype(np.int64))

        values = np.empty((steps, len(self.fields)))
        spread = np.asarray(SPREAD) * (0.5 + rng.random((steps, len(KPIS)))) if self.stats != ("mean",) else None
        j = 0
        for k, kpi in enumerate(KPIS):
            for stat in self.stats:
                if stat == "mean":
                    values[:, j] = kpis[:, k]
                elif stat == "std":
                    values[:, j] = np.where(np.isnan(kpis[:, k]), np.nan, spread[:, k])
                else:
                    sign = -1.0 if stat == "min" else 1.0
                    values[:, j] = np.clip(kpis[:, k] + sign * 1.8 * spread[:, k], *RANGES[kpi])
                j += 1
        values = values[keep]
        start = start[keep]
        return Rows(self.fields, np.full(len(start), int(cell_index), dtype=np.int64), start, start + width,
                    sample_count[keep], values)

    def _kpis(self, rng: np.random.Generator, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """KPI means per window (steps, len(KPIS)) and the cell's load (steps,)."""
        busy_hour = 20 + rng.uniform(-1.5, 1.5)
        depth = rng.uniform(0.25, 0.6)
        rsrp_level = rng.uniform(-112, -78)
        sinr_level = rng.uniform(8, 26)
        hour = (start % DAY) / 3600
        load = np.clip(0.4 + depth * np.cos(2 * np.pi * (hour - busy_hour) / 24), 0.02, 0.98)
        noise = _autocorrelated(rng, len(start), len(KPIS))
        kpis = np.empty((len(start), len(KPIS)))
        kpis[:, 0] = rsrp_level + 1.5 * noise[0]
        kpis[:, 2] = sinr = sinr_level - 7 * load + 2 * noise[2]
        kpis[:, 1] = -10.8 + 0.25 * (sinr - 12) - 2.5 * load + 0.6 * noise[1]
        kpis[:, 3] = cqi = np.clip(4.0 + 0.45 * sinr + 0.5 * noise[3], *RANGES["cqi"])
        kpis[:, 4] = 600 * (cqi / 15) ** 1.6 * (1 - 0.65 * load) * np.exp(0.2 * noise[4])
        np.clip(kpis, _LOW, _HIGH, out=kpis)
        return kpis, load


def _autocorrelated(rng: np.random.Generator, steps: int, rows: int) -> np.ndarray:
    """`rows` series of unit-variance noise with geometric memory (a truncated AR(1), φ = NOISE_MEMORY)."""
    white = rng.standard_normal((rows, steps + NOISE_TAPS - 1))
    noise = np.empty((rows, steps))
    for j in range(rows):
        noise[j] = np.convolve(white[j], _WEIGHTS, mode="valid")
    return noise


_WEIGHTS = NOISE_MEMORY ** np.arange(NOISE_TAPS)
_WEIGHTS /= np.sqrt((_WEIGHTS**2).sum())
_LOW = np.array([RANGES[k][0] for k in KPIS])
_HIGH = np.array([RANGES[k][1] for k in KPIS])
