"""A monitoring tick over many monitored fields, none of them due: wall time and queries.

Baseline for the ratio: the same tick over 20 fields. Goal: <= 0.5 s, and the query count
does not grow with the number of fields that are not due.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from _setup import django_embedded


def measure(count: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from performance import monitoring
    from performance.models import FieldMonitor

    FieldMonitor.objects.all().delete()
    later = timezone.now() + timedelta(hours=1)
    FieldMonitor.objects.bulk_create(
        FieldMonitor(field=f"kpi_{i}", next_check_at=later) for i in range(count))
    timings = []
    for _ in range(20):
        began = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            assert monitoring.tick() == []
        timings.append(time.perf_counter() - began)
    return statistics.median(timings), len(queries)


def main() -> None:
    django_embedded()
    small_s, small_q = measure(20)
    large_s, large_q = measure(200)
    print(f"20 fields not due : {small_s * 1000:.2f} ms, {small_q} queries")
    print(f"200 fields not due: {large_s * 1000:.2f} ms, {large_q} queries (goal <= 500 ms; queries equal)")
    print(f"ratio 200/20: {large_s / small_s:.2f}x time, {large_q - small_q:+d} queries")


if __name__ == "__main__":
    main()
