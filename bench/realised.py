"""Realised accuracy over N stored forecasts (database store, bundled data, embedded SQLite or
BENCH_DATABASE_URL): the whole `realised()` call vs reading the rows alone (the baseline), and
the vectorised join with the actual windows vs a per-row Python dictionary join of the same rows.

    ~/.cache/cellwise/venv/bin/python bench/realised.py [rows]
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from _setup import django_embedded

FIELD = "sinr_mean"
WS = 10


def main() -> None:
    django_embedded(database_url=os.environ.get("BENCH_DATABASE_URL"))
    from inference.forecast_store import get_store
    from inference.models import StoredForecast
    from performance import realised
    from telemetry.sources import latest_source

    rows_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    source = latest_source()
    cells = source.cells()
    end = source.now()
    per_cell = max(1, rows_wanted // (len(cells) * 3))  # origins per cell: its latest window starts
    model_id, created = uuid.uuid4(), datetime.now(UTC)
    objects = []
    for cell in cells:
        frame = source.windows(cell_index=cell, window_seconds=WS, start=end - 400 * 86_400, end=end, fields=[FIELD])
        for origin in frame.start[-per_cell:]:
            for step in range(1, 4):
                target = datetime.fromtimestamp(int(origin) + (step - 1) * WS, UTC)
                objects.append(StoredForecast(
                    field=FIELD, cell=cell, model_id=model_id, model_name="bench", version=1,
                    origin=datetime.fromtimestamp(int(origin), UTC), step=step, target=target, window_seconds=WS,
                    value=0.0, lower=-1.0, upper=1.0, created_at=created))
    StoredForecast.objects.bulk_create(objects, batch_size=5000)
    since = datetime.fromtimestamp(end, UTC) - timedelta(days=400)
    store = get_store()

    def best_of(call, repeat: int = 3) -> float:
        timings = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()
            timings.append(time.perf_counter() - began)
        return min(timings)

    read_s = best_of(lambda: store.closed(field=FIELD, since=since, until=datetime.fromtimestamp(end, UTC),
                                          limit=10**9))
    total_s = best_of(lambda: realised.realised(FIELD, since=since, source=source))
    found = realised.realised(FIELD, since=since, source=source)
    counted = sum(s["count"] for s in found.series)

    rows = store.closed(field=FIELD, since=since, until=datetime.fromtimestamp(end, UTC), limit=10**9)
    join_s = best_of(lambda: realised.actuals(source, FIELD, rows["cell"], rows["target"], rows["window_seconds"]))

    def dict_join():
        batch = source.windows_many(cells=np.unique(rows["cell"]), window_seconds=WS, start=int(rows["target"].min()),
                                    end=int(rows["target"].max()) + WS, fields=[FIELD])
        cell_of = batch.row_cells()
        lookup = {(int(c), int(s)): float(v) for c, s, v in zip(cell_of, batch.start, batch.values[:, 0], strict=True)}
        return [lookup.get((int(c), int(t)), np.nan) for c, t in zip(rows["cell"], rows["target"], strict=True)]

    loop_s = best_of(dict_join)
    vectorised = realised.actuals(source, FIELD, rows["cell"], rows["target"], rows["window_seconds"])
    assert np.allclose(dict_join(), vectorised, equal_nan=True)  # the same join
    print(f"{len(rows['cell'])} stored forecast rows read, {counted} joined with an arrived window, "
          f"{len(found.series)} series")
    print(f"read alone      {read_s * 1000:8.1f} ms  (baseline)")
    print(f"realised()      {total_s * 1000:8.1f} ms  ({total_s / read_s:.2f}x the read)")
    print(f"vectorised join {join_s * 1000:8.1f} ms  (the dict join: {loop_s * 1000:.1f} ms, {loop_s / join_s:.1f}x)")


if __name__ == "__main__":
    main()
