"""A real web process (gunicorn, 1 worker × 4 threads) whose dependencies are broken for real: a
Data Storage API that never answers or whose port is closed, an S3 and an MLflow that never
answer. Requests must fail fast with 503 naming the dependency, unrelated requests must not
starve, and /v1/health must answer within about a second."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.factories import known_version
from tests.integration.faults import SilentServer, closed_port
from tests.integration.processes import web
from tests.integration.workers import worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIELD, CELL = "sinr_mean", 11016973
DEADLINE = 2.0  # REQUEST_DEADLINE_SECONDS of the web process
HEALTH_BOUND = 2.5  # HEALTH_TIMEOUT_SECONDS is 0.8; the rest is slack for a loaded machine


@pytest.fixture
def start_web(tmp_path, s3_endpoint):
    started = []

    def start(**overrides: str):
        # Load shedding off: these tests watch the deadline and the breaker alone (with shedding on, a
        # flood past the process's slots is answered 503 "overloaded" at once, tested elsewhere).
        env = worker_env(CELLWISE_VAR_DIR=str(tmp_path / "var"), REQUEST_DEADLINE_SECONDS=str(DEADLINE),
                         BREAKER_FAILURES="3", BREAKER_COOLDOWN_SECONDS="60", ADMISSION_MAX_CONCURRENT="0",
                         **overrides)
        app = web(tmp_path, env, threads=4).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def timed(method: str, url: str, **kwargs) -> tuple[float, httpx.Response]:
    began = time.monotonic()
    response = httpx.request(method, url, timeout=120, **kwargs)
    return time.monotonic() - began, response


@pytest.fixture
def model(make_model):
    m = make_model(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                   lookback_steps=12, forecast_steps=3)
    known_version(m)
    return m


def test_a_hung_data_source_fails_inference_fast_and_does_not_starve_other_requests(start_web, model, token):
    with SilentServer() as hung:
        app = start_web(DATA_STORAGE_API_URL=hung.url)
        headers = {"Authorization": f"Bearer {token}"}
        body = {"output_field": FIELD, "cell_id": CELL, "model_id": str(model.id)}
        took, first = timed("POST", f"{app.url}/v1/inference", json=body, headers=headers)  # also loads torch
        assert first.status_code == 503 and first.json()["dependency"] == "Data Storage API", first.text
        assert "no answer from" in first.json()["detail"]

        with ThreadPoolExecutor(9) as pool:
            inferences = [pool.submit(timed, "POST", f"{app.url}/v1/inference", json=body, headers=headers)
                          for _ in range(8)]  # twice as many as the web has threads
            time.sleep(0.3)
            models = pool.submit(timed, "GET", f"{app.url}/v1/models", headers=headers).result()
            answers = [f.result() for f in inferences]
        assert all(r.status_code == 503 and r.json()["dependency"] == "Data Storage API" for _, r in answers)
        # The first four each spend at most the deadline (not 3 × the 60 s read timeout); two more
        # failures open the breaker and the queued four fail at once; the list waits for one round.
        slowest = max(took for took, _ in answers)
        assert slowest < DEADLINE + 2.5, [round(t, 2) for t, _ in answers]
        assert models[1].status_code == 200 and models[0] < DEADLINE + 2.5, models[0]

        took, known_down = timed("POST", f"{app.url}/v1/inference", json=body, headers=headers)
        assert known_down.status_code == 503 and took < 1, took
        assert "known to be down" in known_down.json()["detail"]


def test_a_closed_data_source_port_is_a_quick_503(start_web, model, token):
    app = start_web(DATA_STORAGE_API_URL=f"http://127.0.0.1:{closed_port()}")
    took, response = timed("POST", f"{app.url}/v1/inference", headers={"Authorization": f"Bearer {token}"},
                           json={"output_field": FIELD, "cell_id": CELL, "model_id": str(model.id)})
    assert response.status_code == 503 and "cannot connect" in response.json()["detail"], response.text
    assert took < DEADLINE + 1


def test_health_answers_within_a_second_with_s3_mlflow_and_the_data_source_hung(start_web):
    with SilentServer() as s3, SilentServer() as tracking, SilentServer() as storage:
        app = start_web(AWS_S3_ENDPOINT_URL=s3.url, MLFLOW_TRACKING_URI=tracking.url,
                        DATA_STORAGE_API_URL=storage.url, HEALTH_CACHE_SECONDS="3")
        time.sleep(3.5)  # the answer web's start-up probe cached has expired
        took, response = timed("GET", f"{app.url}/v1/health")
        assert took < HEALTH_BOUND, took
        body = response.json()
        assert response.status_code == 200 and body["status"] == "degraded", body
        down = {name for name, check in body["checks"].items() if check["status"] == "down"}
        assert down == {"storage", "mlflow", "data_source"}, body
        # Bounded by the health wait, or by the probe's own (as short) timeout.
        assert all(re.search("no answer|timed out", body["checks"][name]["detail"]) for name in down), body

        with ThreadPoolExecutor(10) as pool:  # a burst is answered from one round of probes
            burst = list(pool.map(lambda _: timed("GET", f"{app.url}/v1/health"), range(10)))
        assert max(took for took, _ in burst) < HEALTH_BOUND
        assert all(r.json() == body for _, r in burst)  # cached: the same answer
