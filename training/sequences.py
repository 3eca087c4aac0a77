"""Sliding (lookback, inputs) → (forecast, outputs) samples from window frames, vectorised.

A sample is windows i … i+lookback+forecast-1 of one frame; it exists only when those windows
are contiguous (no gap inside) and hold no NaN in the inputs, the targets or the last observed
outputs. No Python loop runs per sample: valid origins come from the gap marks' running
segment id, and the samples are gathered with one fancy index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from telemetry.frame import WindowFrame


@dataclass
class SampleSet:
    x: np.ndarray  # float32 (n, lookback, inputs)
    y: np.ndarray  # float32 (n, forecast, outputs): the future values (levels)
    last: np.ndarray  # float32 (n, outputs): outputs' values in the last lookback window
    origin: np.ndarray  # int64 (n,): end time of the last lookback window
    cell: np.ndarray  # int64 (n,)
    index: np.ndarray  # int64 (n,): each sample's first window in its own frame (its cell's)
    dropped_nan: int = 0  # candidate samples dropped for a NaN
    segments: int = 0  # contiguous runs seen

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: np.ndarray) -> SampleSet:
        return SampleSet(self.x[index], self.y[index], self.last[index], self.origin[index], self.cell[index],
                         self.index[index])


@dataclass
class Scaler:
    """Per-feature standardisation, fitted on the training split only."""

    mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    std: np.ndarray = field(default_factory=lambda: np.ones(0, np.float32))

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        return cls(flat.mean(axis=0).astype(np.float32), np.where(std > 1e-12, std, 1.0).astype(np.float32))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


def build_samples(frame: WindowFrame, *, inputs: Sequence[str], outputs: Sequence[str],
                  lookback: int, forecast: int) -> SampleSet:
    """All valid samples of one cell's frame, in time order."""
    found = valid_origins(frame, inputs=inputs, outputs=outputs, lookback=lookback, forecast=forecast)
    return gather(frame, found.origins, inputs=inputs, outputs=outputs, lookback=lookback, forecast=forecast,
                  dropped_nan=found.dropped_nan, segments=found.segments)


@dataclass
class Origins:
    origins: np.ndarray  # int64: first window (in the frame) of every valid sample, ascending
    dropped_nan: int
    segments: int


def valid_origins(frame: WindowFrame, *, inputs: Sequence[str], outputs: Sequence[str],
                  lookback: int, forecast: int) -> Origins:
    """Where the valid samples of a frame start, without building them: index arrays only, so a
    caller that keeps a few of a cell's samples (training's cap) gathers just those."""
    width = lookback + forecast
    n = len(frame)
    segment = np.cumsum(frame.gap_before)
    segments = int(segment[-1]) if n else 0
    if n < width:
        return Origins(np.empty(0, np.int64), 0, segments)
    columns = [frame.fields.index(f) for f in inputs], [frame.fields.index(f) for f in outputs]
    origins = np.arange(n - width + 1)
    origins = origins[segment[origins] == segment[origins + width - 1]]  # no gap inside the span
    # Prefix counts of rows holding a NaN tell, per origin, whether its span holds one.
    x_nan = np.concatenate(([0], np.cumsum(np.isnan(frame.values[:, columns[0]]).any(axis=1))))
    y_row_nan = np.asarray(np.isnan(frame.values[:, columns[1]]).any(axis=1))
    y_nan = np.concatenate(([0], np.cumsum(y_row_nan)))
    bad = ((x_nan[origins + lookback] > x_nan[origins]) | (y_nan[origins + width] > y_nan[origins + lookback])
           | y_row_nan[origins + lookback - 1])
    return Origins(origins[~bad].astype(np.int64), int(bad.sum()), segments)


def gather(frame: WindowFrame, keep: np.ndarray, *, inputs: Sequence[str], outputs: Sequence[str],
           lookback: int, forecast: int, dropped_nan: int = 0, segments: int = 0) -> SampleSet:
    """The samples of `frame` starting at the `keep` origins (from `valid_origins`)."""
    if not len(keep):
        return _empty(lookback, forecast, len(inputs), len(outputs), dropped_nan=dropped_nan, segments=segments)
    width = lookback + forecast
    x_values = frame.values[:, [frame.fields.index(f) for f in inputs]].astype(np.float32)
    y_values = frame.values[:, [frame.fields.index(f) for f in outputs]].astype(np.float32)
    steps = np.arange(width)
    return SampleSet(  # np.take along axis 0 gathers ~4x faster than fancy indexing here
        x=np.take(x_values, keep[:, None] + steps[:lookback], axis=0),
        y=np.take(y_values, keep[:, None] + steps[lookback:], axis=0),
        last=y_values[keep + lookback - 1], origin=frame.end[keep + lookback - 1],
        cell=np.full(len(keep), frame.cell_index, np.int64), index=keep, dropped_nan=dropped_nan,
        segments=segments,
    )


def concat(sets: Iterable[SampleSet]) -> SampleSet:
    sets = list(sets)
    joined = SampleSet(
        x=np.concatenate([s.x for s in sets]), y=np.concatenate([s.y for s in sets]),
        last=np.concatenate([s.last for s in sets]), origin=np.concatenate([s.origin for s in sets]),
        cell=np.concatenate([s.cell for s in sets]), index=np.concatenate([s.index for s in sets]),
    )
    joined.dropped_nan = sum(s.dropped_nan for s in sets)
    joined.segments = sum(s.segments for s in sets)
    return joined


def time_split(samples: SampleSet, validation_fraction: float) -> tuple[SampleSet, SampleSet]:
    """Earlier samples train, the latest `validation_fraction` (by origin time) validate."""
    order = np.argsort(samples.origin, kind="stable")
    n_val = max(1, int(round(len(order) * validation_fraction))) if len(order) > 1 else 0
    return samples.take(order[: len(order) - n_val]), samples.take(order[len(order) - n_val:])


def targets(samples: SampleSet, mode: str) -> np.ndarray:
    """What the network learns: the change from the last observed value, or the level."""
    return samples.y - samples.last[:, None, :] if mode == "residual" else samples.y


def _empty(lookback: int, forecast: int, n_in: int, n_out: int, dropped_nan: int = 0,
           segments: int = 0) -> SampleSet:
    return SampleSet(
        np.empty((0, lookback, n_in), np.float32), np.empty((0, forecast, n_out), np.float32),
        np.empty((0, n_out), np.float32), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64),
        dropped_nan, segments,
    )
