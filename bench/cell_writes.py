"""Per-cell rows of one evaluation at network scale: 10,000 cells × 10 models.

Writes the ScoreRecords of one evaluation alone (baseline), then the same with its 100,000
CellScore rows (`cell_scores_write`, bulk_create), then reads the field's cells table
(`cell_table.table`, what the field page and `/cells` do). Uses BENCH_DATABASE_URL when set
(e.g. postgres://127.0.0.1/cw_bench_cells), else the embedded SQLite.
"""

from __future__ import annotations

import os
import time
import uuid

import numpy as np
from _setup import django_embedded

CELLS, MODELS = int(os.environ.get("BENCH_CELLS", 10_000)), 10


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL")
    django_embedded(database_url=url)
    from django.db import connection, transaction
    from django.utils import timezone

    from performance import cell_table
    from performance.models import CellScore, ScoreRecord
    from performance.scoring import ModelScore
    from performance.services.cells import cell_scores_write

    rng = np.random.default_rng(0)

    class Model:  # what cell_scores_write reads from a result
        def __init__(self, i):
            self.id, self.name = uuid.uuid4(), f"m{i}"

    def results():
        out = []
        for i in range(MODELS):
            result = ModelScore(model=Model(i), version=None)
            for cell in range(CELLS):
                n = int(rng.integers(50, 1000))
                result.cell_sums[cell] = {
                    "samples": n, "points": n, "mape_points": n, "truth_sum": float(rng.normal(0, 1) * n),
                    "truth_sq_sum": float(n * 2.0), **{f"{f}_{p}": float(rng.random() * n)
                                                       for f in ("model", "persistence", "lookback_mean")
                                                       for p in ("sse", "sae", "sape")}}
            out.append(result)
        return out

    def records(evaluation, now):
        return [ScoreRecord.objects.create(evaluation=evaluation, field="sinr_mean", model_id=uuid.uuid4(),
                                           model_name=f"m{i}", metric="rmse", score=1.0 + i, rank=i + 1,
                                           elected=i == 0, trigger="evaluate", measured_at=now, samples=1, cells=CELLS)
                for i in range(MODELS)]

    made = results()
    began = time.perf_counter()
    with transaction.atomic():
        records(uuid.uuid4(), timezone.now())
    alone = time.perf_counter() - began
    began = time.perf_counter()
    with transaction.atomic():
        written = cell_scores_write(records=records(uuid.uuid4(), timezone.now()), results=made)
    with_cells = time.perf_counter() - began
    began = time.perf_counter()
    found = cell_table.table("sinr_mean")
    read = time.perf_counter() - began
    print(f"{connection.vendor}: {MODELS} score records {alone * 1000:.0f} ms; with {written:,} cell rows "
          f"{with_cells:.2f} s ({with_cells / alone:.0f}×, {written / with_cells:,.0f} rows/s); "
          f"cells table of {len(found.rows):,} cells × {len(found.models)} models read in {read:.2f} s; "
          f"{CellScore.objects.count():,} rows stored")


if __name__ == "__main__":
    main()
