"""Training-job overhead on the embedded setup: job wall time minus the time inside `fit`.

Runs the worker's code path (`training.tasks.run_training_job`) in this process for a small
LSTM on the bundled data: once cold (first job: imports, MLflow store and experiment creation)
and three times warm, as a long-lived worker would. Baseline for the ratio: the fit itself.
"""

from __future__ import annotations

import statistics
import time

from _setup import django_embedded


def main() -> None:
    var = django_embedded()
    from registry import mlflow_gateway, services as registry_services
    from training import services
    from training.models import TrainingJob
    from training.tasks import run_training_job

    mlflow_gateway.ensure_local_store()  # bootstrap does this before workers start
    model = registry_services.model_config_create(
        name="bench-lstm", architecture="lstm", input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"],
        output_fields=["sinr_mean"], window_duration_seconds=10, lookback_steps=12, forecast_steps=3,
        hidden_size=32, epochs=5, patience=5,
    )
    rows = []
    for attempt in range(4):
        job = services.training_job_create(model=model, reason="bench")
        began = time.perf_counter()
        assert run_training_job(str(job.id)) == "completed"
        wall = time.perf_counter() - began
        fit_s = TrainingJob.objects.get(id=job.id).data_summary["fit_seconds"]
        rows.append((wall, fit_s))
        print(f"job {attempt + 1} ({'cold' if attempt == 0 else 'warm'}): wall {wall:6.2f} s, fit {fit_s:6.2f} s, "
              f"overhead {wall - fit_s:5.2f} s")
    warm = [wall - fit_s for wall, fit_s in rows[1:]]
    print(f"warm overhead: median {statistics.median(warm):.2f} s (goal <= 2 s); "
          f"overhead / fit = {statistics.median(warm) / statistics.median(f for _, f in rows[1:]):.2f}")
    print(f"(embedded store in {var})")


if __name__ == "__main__":
    main()
