"""Inference counters for the metrics endpoint (Prometheus client, per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INFERENCES = Counter("cellwise_inferences_total", "Forecasts served", ["model", "field"])
INFERENCE_SECONDS = Histogram(
    "cellwise_inference_seconds", "Time to serve one forecast (excluding HTTP)", ["field"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
