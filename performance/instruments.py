"""Prometheus instruments of the performance app (per process; see mlops_site.metrics)."""

from __future__ import annotations

from prometheus_client import Histogram

EVALUATION_SECONDS = Histogram(
    "cellwise_evaluation_seconds", "Time to evaluate every model of a field", ["field", "trigger"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
