"""Stopping a real `manage.py worker` while it trains: SIGTERM to the whole process group (what
compose and systemd send) or to the main process only (`docker stop`). Before the fix the group
signal left the main process in a futex wait for ever, with a defunct sentinel and the job
`running`."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from core.processes import group_members
from core.shutdown import STOPPED
from registry.models import ModelConfig
from tests.integration.faults import SilentServer
from tests.integration.workers import Worker, wait_for
from training import services
from training.models import JobStatus, TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracked(settings, mlflow_server_uri, s3_endpoint):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    return settings


@pytest.fixture
def started(tmp_path):
    workers: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(tmp_path, f"worker-{len(workers)}", **env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.kill()


def job(job_id) -> TrainingJob:
    return TrainingJob.objects.get(id=job_id)


def stopped_within(worker: Worker, seconds: float) -> float:
    began = time.monotonic()
    try:
        worker.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker was still running {seconds} s after SIGTERM; group members "
                             f"{group_members(worker.process.pid)}; log:\n{worker.log()[-3000:]}") from None
    return time.monotonic() - began


@pytest.mark.parametrize("target", ["process group", "main process"])
def test_sigterm_fails_the_running_job_and_stops_within_the_grace_period(tracked, started, make_model, target):
    model = make_model(architecture="lstm", window_duration_seconds=10, lookback_steps=12, hidden_size=48,
                       epochs=500, patience=100)
    worker = started(WORKER_STOP_GRACE_SECONDS="30")
    queued = services.training_job_create(model=model)
    wait_for(lambda: job(queued.id).epoch >= 1, timeout=120, message=f"training to start; log:\n{worker.log()}")

    if target == "process group":
        os.killpg(worker.process.pid, signal.SIGTERM)
    else:
        os.kill(worker.process.pid, signal.SIGTERM)
    took = stopped_within(worker, 45)

    assert worker.process.returncode == 0, worker.log()[-2000:]
    assert took < 30, f"the job should stop at its next epoch, well inside the grace period ({took:.1f} s)"
    assert group_members(worker.process.pid) == []  # sentinel, pusher, monitor and workers all gone
    ended = job(queued.id)
    assert ended.status == JobStatus.FAILED and ended.error_message == STOPPED, ended.error_message
    assert ended.version is None and not ModelConfig.objects.get(id=model.id).is_training
    assert "killing" not in worker.log()  # it stopped on its own, nothing was killed


def test_a_job_that_cannot_stop_is_killed_after_the_grace_period_and_failed(tracked, started, make_model):
    with SilentServer() as hung:  # the job blocks in a read from a Data Storage API that never answers
        worker = started(WORKER_STOP_GRACE_SECONDS="3", TELEMETRY_SOURCE="data_storage",
                         DATA_STORAGE_API_URL=hung.url)
        queued = services.training_job_create(model=make_model())
        wait_for(lambda: job(queued.id).status == JobStatus.RUNNING, timeout=120,
                 message=f"the job to start; log:\n{worker.log()}")
        time.sleep(1)  # inside the read by now
        os.killpg(worker.process.pid, signal.SIGTERM)
        took = stopped_within(worker, 30)

    assert took >= 3, "the grace period is given before anything is killed"
    assert group_members(worker.process.pid) == []
    assert "killing" in worker.log()
    ended = job(queued.id)
    assert ended.status == JobStatus.FAILED and STOPPED in ended.error_message, (ended.worker, worker.log())
    assert not ModelConfig.objects.get(id=ended.model_id).is_training
    again = services.training_job_create(model=ended.model)  # the lock is free
    services.training_job_cancel(job=again)
