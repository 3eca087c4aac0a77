"""Injected drift for the bundled dataset, so the monitoring loop can be seen on one machine.

`manage.py inject_drift` writes `var/drift.json`; every process's `EmbeddedSource` notices the
file change and applies it while aggregating: from `since` on, a KPI gets `offset` added plus
Gaussian noise of std `noise`, seeded per cell so every process sees the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from telemetry.gnettrack import KPIS


@dataclass(frozen=True)
class Drift:
    kpi: str
    since: int  # Unix seconds, in the source's (possibly shifted) time
    noise: float = 0.0
    offset: float = 0.0
    seed: int = 0


def read(path: Path) -> list[Drift]:
    if not path.exists():
        return []
    return [Drift(**item) for item in json.loads(path.read_text())]


def write(path: Path, drifts: list[Drift]) -> None:
    path.write_text(json.dumps([asdict(d) for d in drifts], indent=2))


def apply(values: np.ndarray, ts: np.ndarray, cell: int, drifts: list[Drift]) -> np.ndarray:
    """A drifted copy of one cell's (records × KPIS) values; `ts` already shifted."""
    if not drifts:
        return values
    values = values.copy()
    for drift in drifts:
        rows = ts >= drift.since
        rng = np.random.default_rng([drift.seed, cell])
        column = KPIS.index(drift.kpi)
        values[rows, column] += drift.offset + drift.noise * rng.standard_normal(int(rows.sum()))
    return values
