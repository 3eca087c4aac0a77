"""Inference latency: over HTTP on loopback (warm cache), in-process, and the same forecast
loading the model from MLflow per request (the baseline for the ratio).

Embedded setup in a temp folder: trains a small LSTM, elects it, starts gunicorn (1 worker).
With BENCH_MLFLOW_URI=http://… (e.g. after `source scripts/services.sh up`, use
$MLFLOW_TRACKING_URI) the model is logged to and loaded from that tracking server, as in
production; otherwise from the local sqlite store.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import httpx
from _setup import ROOT, django_embedded

CELL, FIELD, REQUESTS = 11016973, "sinr_mean", 500


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    var = django_embedded(mlflow_uri=os.environ.get("BENCH_MLFLOW_URI"))
    import numpy as np
    import torch
    from django.contrib.auth import get_user_model

    from access.models import ApiToken
    from inference.forecasting import forecast_cell
    from performance.services import election
    from registry import mirror, mlflow_gateway, services as registry_services
    from telemetry.sources import latest_source
    from training import pipeline, services as training_services

    torch.set_num_threads(1)
    mlflow_gateway.ensure_local_store()
    model = registry_services.model_config_create(
        name="bench-lstm", architecture="lstm", input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"],
        output_fields=[FIELD], window_duration_seconds=10, lookback_steps=12, forecast_steps=3, hidden_size=32,
        epochs=3)
    job = training_services.training_job_create(model=model)
    assert pipeline.run(job.id) == "completed"
    assert mirror.flush().pending == 0  # the registered version the MLflow baseline loads
    election.field_evaluate(field=FIELD)
    user = get_user_model().objects.create_user("bench")
    _, token = ApiToken.issue(user=user, name="bench")

    # In-process, warm.
    forecast_cell(output_field=FIELD, cell_id=CELL)
    local = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        forecast_cell(output_field=FIELD, cell_id=CELL)
        local.append((time.perf_counter() - began) * 1000)

    # The same forecast, loading the registered model from MLflow every time.
    import mlflow.pytorch

    from inference.forecasting import resolve
    from registry.models import ModelVersion

    entry = resolve(FIELD)
    bundle = entry.loaded.bundle
    uri = f"models:/{model.id}/{ModelVersion.objects.get(id=entry.version_id).mlflow_version}"
    mlflow.set_registry_uri(os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{var / 'mlflow.db'}"))
    per_request = []
    for _ in range(20):
        began = time.perf_counter()
        network = mlflow.pytorch.load_model(uri)
        frame = latest_source().latest_windows(cell_index=CELL, window_seconds=10, count=12,
                                               fields=bundle.input_fields)
        x = bundle.feature_scaler.transform(frame.values[None].astype(np.float32))
        with torch.inference_mode():
            network(torch.from_numpy(x))
        per_request.append((time.perf_counter() - began) * 1000)

    # Over HTTP: gunicorn, one worker, loopback.
    port = 18061
    env = dict(os.environ, LOG_LEVEL="WARNING")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "mlops_site.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "--threads", "1"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
        body = {"output_field": FIELD, "cell_id": CELL}
        for _ in range(100):
            try:
                if client.post("/v1/inference", json=body).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        for _ in range(20):
            client.post("/v1/inference", json=body)  # warm the cache and the connection
        remote = []
        for _ in range(REQUESTS):
            began = time.perf_counter()
            response = client.post("/v1/inference", json=body)
            remote.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
    finally:
        server.terminate()
        server.wait(10)

    print(f"HTTP (gunicorn, 1 worker, loopback, warm cache), {REQUESTS} requests: "
          f"p50 {percentile(remote, 50):.2f} ms, p99 {percentile(remote, 99):.2f} ms (goal p50 <= 15 ms)")
    print(f"in-process forecast_cell: p50 {statistics.median(local):.3f} ms, p99 {percentile(local, 99):.3f} ms "
          f"(goal <= 2 ms)")
    where = os.environ.get("BENCH_MLFLOW_URI") or "the local sqlite store"
    print(f"loading from MLflow per request ({where}): p50 {statistics.median(per_request):.1f} ms")
    print(f"ratio MLflow-per-request / cached in-process: "
          f"{statistics.median(per_request) / statistics.median(local):.0f}x "
          f"(goal >= 20x); / HTTP p50: {statistics.median(per_request) / percentile(remote, 50):.1f}x")


if __name__ == "__main__":
    main()
