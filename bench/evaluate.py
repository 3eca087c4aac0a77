"""Evaluate one field with 10 trained models: wall time and where it goes.

Embedded setup: trains 10 small models (ANN and LSTM, 10 s and 60 s windows) for sinr_mean,
then runs `field_evaluate` twice: cold (bundles read from storage) and warm (cached). Time is
attributed by wrapping the stages; "other" is the rest (ranking, DB writes, events).
"""

from __future__ import annotations

import time
from collections import defaultdict

from _setup import django_embedded

FIELD = "sinr_mean"


def main() -> None:
    django_embedded()
    import torch

    from inference import cache, predict
    from performance import scoring
    from performance.services import election
    from registry import mlflow_gateway, services as registry_services
    from training import pipeline, services as training_services

    torch.set_num_threads(1)
    mlflow_gateway.ensure_local_store()
    for i in range(10):
        model = registry_services.model_config_create(
            name=f"bench-{i}", architecture="lstm" if i % 2 else "ann",
            input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"], output_fields=[FIELD],
            window_duration_seconds=10 if i < 6 else 60, lookback_steps=6 + i % 3 * 3, forecast_steps=1 + i % 3,
            hidden_size=16, epochs=2)
        job = training_services.training_job_create(model=model)
        assert pipeline.run(job.id) == "completed"

    spent: dict[str, float] = defaultdict(float)

    def timed(owner, name, label):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - began
        setattr(owner, name, wrapper)

    timed(scoring.EvaluationData, "frame", "read windows (source)")
    timed(scoring, "build_samples", "build samples")
    timed(predict.LoadedModel, "predict", "model forward passes")
    timed(scoring.metrics, "compute", "metrics")
    timed(cache, "load_bundle", "load bundles (storage)")

    for label in ("cold", "warm"):
        spent.clear()
        if label == "cold":
            cache.clear()
        began = time.perf_counter()
        evaluation = election.field_evaluate(field=FIELD)
        wall = time.perf_counter() - began
        samples = sum(r.samples for r in evaluation.records)
        print(f"{label}: {wall:.2f} s for {len(evaluation.records)} models, {samples} samples scored")
        for stage, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:26s} {seconds:6.3f} s  {seconds / wall:5.1%}")
        print(f"  {'other (rank, DB, events)':26s} {wall - sum(spent.values()):6.3f} s")


if __name__ == "__main__":
    main()
