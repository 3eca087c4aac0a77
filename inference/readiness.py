"""Which cells can be forecast now: those whose latest windows hold a complete, contiguous
lookback for the model that would run. Operators pick from these instead of guessing.

Each cell costs one latest-windows read, so the scan is capped (`MAX_CELLS`) and cached for a
minute per version; the source's cell order decides which cells are scanned past the cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache as django_cache

from inference.forecasting import complete_tail, resolve
from telemetry.sources import latest_source

MAX_CELLS = 500
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

    @property
    def ready_cells(self) -> list[int]:
        return [c.cell_id for c in self.cells if c.ready]


def cell_readiness(*, output_field: str, model_id=None) -> Readiness:
    """Every cell (up to MAX_CELLS) with its complete latest windows; ready cells first."""
    entry = resolve(output_field, model_id)  # 404 / 409 / 422 exactly as a forecast would
    bundle = entry.loaded.bundle
    source = latest_source()
    key = f"cellwise:readiness:{source.name.replace(' ', '-')}:{entry.version_id}:{output_field}"
    cached = django_cache.get(key)
    if cached is not None:
        return cached
    cells = source.cells()
    fields = list(dict.fromkeys(bundle.input_fields + bundle.output_fields))
    rows = []
    for cell in cells[:MAX_CELLS]:
        frame = source.latest_windows(cell_index=cell, window_seconds=bundle.window_seconds,
                                      count=bundle.lookback, fields=fields)
        rows.append(CellReadiness(int(cell), complete_tail(frame, bundle.input_fields, bundle.output_fields),
                                  bundle.lookback))
    rows.sort(key=lambda r: (not r.ready, -r.complete_windows, r.cell_id))
    readiness = Readiness(model_id=str(entry.model_id), model_name=entry.model_name, version=entry.version,
                          needed=bundle.lookback, scanned=len(rows), total_cells=len(cells), cells=rows)
    django_cache.set(key, readiness, CACHE_SECONDS)
    return readiness
