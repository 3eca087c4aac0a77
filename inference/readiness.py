"""Which cells can be forecast now: those whose latest windows hold a complete, contiguous
lookback for the model that would run. Operators pick from these instead of guessing.

Each cell costs one latest-windows read (an HTTP call or a query on remote sources), so the
scan stops at `MAX_CELLS` or after `BUDGET_SECONDS`, whichever comes first, and is cached for a
minute per version; cells past that are listed as not checked, in the source's order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.core.cache import cache as django_cache

from inference.forecasting import complete_tail, resolve
from telemetry.sources import latest_source

MAX_CELLS = 500
BUDGET_SECONDS = 2.0  # the forecast page waits for this scan
CACHE_SECONDS = 60


@dataclass(frozen=True)
class CellReadiness:
    cell_id: int
    complete_windows: int
    needed: int

    @property
    def ready(self) -> bool:
        return self.complete_windows >= self.needed


@dataclass
class Readiness:
    model_id: str
    model_name: str
    version: int
    needed: int
    scanned: int
    total_cells: int
    cells: list[CellReadiness]
    unchecked: list[int] = field(default_factory=list)

    @property
    def ready_cells(self) -> list[int]:
        return [c.cell_id for c in self.cells if c.ready]


def cell_readiness(*, output_field: str, model_id=None) -> Readiness:
    """The scanned cells with their complete latest windows, ready cells first."""
    entry = resolve(output_field, model_id)  # 404 / 409 / 422 exactly as a forecast would
    bundle = entry.loaded.bundle
    source = latest_source()
    key = f"cellwise:readiness:{source.name.replace(' ', '-')}:{entry.version_id}:{output_field}"
    cached = django_cache.get(key)
    if cached is not None:
        return cached
    cells = source.cells()
    fields = list(dict.fromkeys(bundle.input_fields + bundle.output_fields))
    rows, deadline = [], time.monotonic() + BUDGET_SECONDS
    for cell in cells[:MAX_CELLS]:
        if time.monotonic() > deadline:
            break
        frame = source.latest_windows(cell_index=cell, window_seconds=bundle.window_seconds,
                                      count=bundle.lookback, fields=fields)
        rows.append(CellReadiness(int(cell), complete_tail(frame, bundle.input_fields, bundle.output_fields),
                                  bundle.lookback))
    rows.sort(key=lambda r: (not r.ready, -r.complete_windows, r.cell_id))
    readiness = Readiness(model_id=str(entry.model_id), model_name=entry.model_name, version=entry.version,
                          needed=bundle.lookback, scanned=len(rows), total_cells=len(cells), cells=rows,
                          unchecked=[int(c) for c in cells[len(rows):]])
    django_cache.set(key, readiness, CACHE_SECONDS)
    return readiness
