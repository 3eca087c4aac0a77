"""Training against a flaky Data Storage API: the real test server answers 30 % of all requests
with HTTP 500 (seeded). Each job pages through ~100 requests; the background retry profile must
carry at least 19 of 20 jobs to completion (with 3 retries per request, half of them failed)."""

from __future__ import annotations

import time

import pytest

from tests.telemetry.fake_data_storage import FakeDataStorage
from tests.telemetry.test_data_storage import make_rows
from training import pipeline, services
from training.models import JobStatus, TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db]
WIDTH, WINDOWS, CELLS = 60, 500, (101, 102)


def recent_rows(settings) -> list[dict]:
    """WINDOWS windows per cell that end an hour before the held-out evaluation span."""
    end = int(time.time()) - settings.EVALUATION_SPAN_SECONDS - 3600
    rows = []
    for cell in CELLS:
        for row in make_rows(WINDOWS, cell=cell, width=WIDTH):
            shift = end - WINDOWS * WIDTH - make_rows(1)[0]["window_start_time"]
            rows.append({**row, "window_start_time": row["window_start_time"] + shift,
                         "window_end_time": row["window_end_time"] + shift})
    return rows


@pytest.fixture
def flaky(settings, mlflow_server_uri, s3_endpoint):
    server = FakeDataStorage(recent_rows(settings), era="B", seed=11)
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    settings.TELEMETRY_SOURCE = "data_storage"
    settings.DATA_STORAGE_API_URL = server.url
    settings.DATA_STORAGE_PAGE_SIZE = 10  # 51 pages per cell: ~100 requests per job
    # Production's number of retries (BACKGROUND_RETRIES), with shorter waits to keep the test short.
    settings.BACKGROUND_BACKOFF_SECONDS = 0.01
    settings.BACKGROUND_BACKOFF_MAX_SECONDS = 0.05
    yield server
    server.stop()


def test_19_of_20_jobs_complete_with_30_percent_of_requests_failing(flaky, make_model):
    model = make_model(architecture="linear", input_fields=["sinr_mean", "rsrp_mean"], output_fields=["sinr_mean"])
    flaky.fault_rate = 0.3
    outcomes = []
    for _ in range(20):
        job = services.training_job_create(model=model)
        pipeline.run(job.id)
        outcomes.append(TrainingJob.objects.get(id=job.id))

    completed = [j for j in outcomes if j.status == JobStatus.COMPLETED]
    errors = [j.error_message for j in outcomes if j.status != JobStatus.COMPLETED]
    print(f"{len(completed)} of 20 jobs completed; {flaky.faults} of {len(flaky.requests)} requests answered 500")
    assert len(completed) >= 19, errors
    pages = sum(1 for path, _, _ in flaky.requests if path == "/api/v1/processed")
    assert pages > 20 * 100, pages  # every job paged through about a hundred requests…
    assert flaky.faults > 0.25 * len(flaky.requests), (flaky.faults, len(flaky.requests))  # …30 % of them 500s
    assert completed[0].data_summary["windows"] == len(CELLS) * WINDOWS
