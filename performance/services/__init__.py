"""Every write of the performance app, in two modules with one job each:

- `election`: score models on fresh windows, elect a field's best, override it, re-score it, and
  the below-naive verdict (writes `ScoreRecord`, `FieldEvent`, the registry's `FieldBest`);
- `monitors`: the monitoring loop's state machine, each check outcome and transition a guarded
  update of `FieldMonitor` that writes its `MonitorEvent`.

`election` tells `monitors` when a field gains a best; `monitors` never calls `election` (the
loop in `performance/monitoring.py` calls both).
"""
