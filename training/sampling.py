"""A bounded, representative training set from a network of any size.

Cells: a network larger than `TRAINING_MAX_CELLS` is sampled by stratum, so every kind of cell
is read whatever the network size:

1. Survey: the latest `SURVEY_WINDOWS` windows of every cell (one chunked read of the first
   output field and the sample counts: cheap next to the training read) give each cell an
   activity (mean `sample_count`, how many measurements a window aggregates: the cell's load)
   and a level (mean of the first output field).
2. Strata: activity tercile × level tercile (9 kinds), plus the cells with no recent window.
3. Allocation: `TRAINING_MAX_CELLS` split across the strata in proportion to their size
   (largest remainders), at least one cell for every non-empty stratum.
4. Within a stratum, a seeded permutation (the model's training seed) picks the cells: the same
   network and seed always give the same cells.

Samples: at most `TRAINING_MAX_SAMPLES` (fewer when one sample is large: the arrays never pass
`SAMPLE_MEMORY_BYTES`), kept in preallocated float32 arrays as the chunks are read:

5. Each chunk gets the remaining budget in proportion to its share of the cells still to read;
   inside the chunk the budget is water-filled (cells with few samples keep all of theirs,
   the others share the rest equally), so what a cell does not use goes to the next cells.
6. A cell over its quota keeps its newest half-quota of samples (the data right before the held-out
   evaluation span, which validation uses) and spreads the other half evenly over its older
   samples (the daily cycle and the rest of the lookback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from telemetry.base import TelemetrySource
from telemetry.frame import WindowFrame
from training.sequences import SampleSet

SURVEY_WINDOWS = 12
SAMPLE_MEMORY_BYTES = 1 << 30  # the kept samples' arrays, whatever TRAINING_MAX_SAMPLES says
ACTIVITY = ("low activity", "mid activity", "high activity")
LEVEL = ("low level", "mid level", "high level")
NO_RECENT = "no recent window"


@dataclass
class CellPlan:
    """The cells a job reads, and how they were chosen (the data summary's `sampling.cells`)."""

    cells: np.ndarray  # int64, ascending
    in_network: int
    method: str
    strata: list[dict] = field(default_factory=list)  # name, cells, chosen

    def summary(self) -> dict:
        return {"method": self.method, "in_network": self.in_network, "chosen": len(self.cells),
                "strata": self.strata}


def choose_cells(source: TelemetrySource, cells: np.ndarray, *, most: int, window_seconds: int, level_field: str,
                 seed: int, on_progress: Callable[[int, int], None] = lambda done, total: None) -> CellPlan:
    """Every cell when there are at most `most`; else a stratified sample (steps 1-4)."""
    if len(cells) <= most:
        return CellPlan(cells, len(cells), "every cell")
    activity = np.full(len(cells), np.nan, np.float32)
    level = np.full(len(cells), np.nan, np.float32)
    done = 0
    on_progress(0, len(cells))
    for batch in source.latest_windows_chunks(cells=cells, window_seconds=window_seconds, count=SURVEY_WINDOWS,
                                              fields=[level_field], dtype=np.float32):
        at = np.searchsorted(cells, batch.cells)  # the batch's cells are a run of `cells`, ascending
        counts = batch.counts
        has = counts > 0
        starts = batch.offsets[:-1][has]
        if len(starts):
            values = batch.values[:, 0]
            valid = ~np.isnan(values)
            seen = np.add.reduceat(valid.astype(np.int64), starts)
            totals = np.add.reduceat(np.where(valid, values, 0).astype(np.float64), starts)
            activity[at[has]] = np.add.reduceat(batch.sample_count, starts) / counts[has]
            with np.errstate(invalid="ignore", divide="ignore"):
                level[at[has]] = np.where(seen > 0, totals / np.maximum(seen, 1), np.nan)
        done += len(batch.cells)
        on_progress(done, len(cells))
    kinds = strata_of(activity, level)
    names = [f"{a}, {lv}" for a in ACTIVITY for lv in LEVEL] + [NO_RECENT]
    sizes = np.bincount(kinds, minlength=len(names))
    quotas = allocate(sizes, most)
    rng = np.random.default_rng(seed)
    chosen = []
    for kind, quota in enumerate(quotas):
        members = np.flatnonzero(kinds == kind)
        if quota:
            chosen.append(members[rng.permutation(len(members))[:quota]])
    strata = [{"name": names[k], "cells": int(sizes[k]), "chosen": int(quotas[k])}
              for k in range(len(names)) if sizes[k]]
    return CellPlan(np.sort(cells[np.concatenate(chosen)]), len(cells),
                    f"stratified: {len(names) - 1} kinds by activity (mean sample count) and level "
                    f"(mean {level_field}) over the latest {SURVEY_WINDOWS} windows, plus cells without "
                    f"a recent window; cells drawn with seed {seed}", strata)


def strata_of(activity: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Each cell's kind: 3 × activity tercile + level tercile, or 9 without a recent window."""
    known = ~(np.isnan(activity) | np.isnan(level))
    kinds = np.full(len(activity), 9, np.int64)
    if known.any():
        def tercile(values: np.ndarray) -> np.ndarray:
            # Thirds by rank, ties broken by position (cell order): with quantile edges, the hours
            # when a third of a network idles at the same floor left the lowest tercile empty.
            ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
            return ranks * 3 // len(values)

        kinds[known] = 3 * tercile(activity[known]) + tercile(level[known])
    return kinds


def allocate(sizes: np.ndarray, most: int) -> np.ndarray:
    """`most` split in proportion to `sizes` (largest remainders), at least 1 per non-empty
    stratum while `most` allows, never more than a stratum holds."""
    sizes = np.asarray(sizes, np.int64)
    quotas = np.zeros(len(sizes), np.int64)
    if sizes.sum() <= most:
        return sizes.copy()
    present = np.flatnonzero(sizes)
    floor = present[np.argsort(-sizes[present], kind="stable")][:most]
    quotas[floor] = 1  # every kind first (the largest ones if there are more kinds than cells)
    left = most - int(quotas.sum())
    if left > 0:
        room = sizes - quotas
        share = room * left / max(1, int(room.sum()))
        extra = np.minimum(np.floor(share).astype(np.int64), room)
        quotas += extra
        left -= int(extra.sum())
        for k in np.argsort(-(share - np.floor(share)), kind="stable"):
            if left <= 0:
                break
            if quotas[k] < sizes[k]:
                quotas[k] += 1
                left -= 1
    return quotas


def water_fill(counts: np.ndarray, budget: int) -> np.ndarray:
    """Per-cell quotas summing to min(budget, counts.sum()): cells under the level keep all,
    the others get the level (the remainder spread one each over the largest)."""
    counts = np.asarray(counts, np.int64)
    if counts.sum() <= budget:
        return counts.copy()
    if budget <= 0:
        return np.zeros_like(counts)
    order = np.sort(counts)
    # The level t: the largest with sum(min(counts, t)) <= budget.
    below = np.concatenate(([0], np.cumsum(order)))
    k = np.arange(len(order) + 1)
    fits = below[:-1] + order * (len(order) - k[:-1]) <= budget  # t = order[i] fits
    i = int(np.flatnonzero(fits)[-1]) + 1 if fits.any() else 0  # cells fully kept (the i smallest)
    level = (budget - int(below[i])) // max(1, len(order) - i)
    quotas = np.minimum(counts, level)
    spare = budget - int(quotas.sum())
    if spare > 0:
        over = np.flatnonzero(counts > quotas)
        quotas[over[np.argsort(-counts[over], kind="stable")][:spare]] += 1
    return quotas


def newest_first(origins: np.ndarray, quota: int) -> np.ndarray:
    """At most `quota` of a cell's ascending origins: the newest half-quota, and the rest
    spread evenly over the older ones (step 6)."""
    if quota >= len(origins):
        return origins
    if quota <= 0:
        return origins[:0]
    newest = quota - quota // 2
    older, spread = origins[: len(origins) - newest], quota // 2
    picked = older[(np.arange(spread) * len(older)) // spread] if spread else older[:0]
    return np.concatenate((picked, origins[len(origins) - newest:]))


class SampleBuffer:
    """Preallocated float32 sample arrays filled chunk by chunk (pages are only touched as rows are
    written, so a small network costs little); `samples()` is a view of the rows filled."""

    def __init__(self, capacity: int, *, lookback: int, forecast: int, n_inputs: int, n_outputs: int) -> None:
        self.capacity = capacity
        self.x = np.empty((capacity, lookback, n_inputs), np.float32)
        self.y = np.empty((capacity, forecast, n_outputs), np.float32)
        self.last = np.empty((capacity, n_outputs), np.float32)
        self.origin = np.empty(capacity, np.int64)
        self.cell = np.empty(capacity, np.int64)
        self.index = np.empty(capacity, np.int64)  # each sample's first window in its cell's frame
        self.size = 0

    @staticmethod
    def bytes_per_sample(*, lookback: int, forecast: int, n_inputs: int, n_outputs: int) -> int:
        return 4 * (lookback * n_inputs + forecast * n_outputs + n_outputs) + 16

    @property
    def left(self) -> int:
        return self.capacity - self.size

    def add(self, frame: WindowFrame, keep: np.ndarray, *, inputs, outputs, lookback: int, forecast: int) -> None:
        """Write the samples of `frame` at the `keep` origins (a gather straight into the arrays)."""
        n = len(keep)
        if not n:
            return
        if n > self.left:
            raise ValueError(f"{n} samples do not fit in the {self.left} left")
        rows = slice(self.size, self.size + n)
        x_values = frame.values[:, [frame.fields.index(f) for f in inputs]].astype(np.float32, copy=False)
        y_values = frame.values[:, [frame.fields.index(f) for f in outputs]].astype(np.float32, copy=False)
        steps = np.arange(lookback + forecast)
        np.take(x_values, keep[:, None] + steps[:lookback], axis=0, out=self.x[rows])
        np.take(y_values, keep[:, None] + steps[lookback:], axis=0, out=self.y[rows])
        self.last[rows] = y_values[keep + lookback - 1]
        self.origin[rows] = frame.end[keep + lookback - 1]
        self.cell[rows] = frame.cell_index
        self.index[rows] = keep
        self.size += n

    def samples(self) -> SampleSet:
        n = self.size
        return SampleSet(self.x[:n], self.y[:n], self.last[:n], self.origin[:n], self.cell[:n], self.index[:n])
