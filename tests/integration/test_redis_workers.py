"""Scale-out on the Redis broker: two real qcluster processes share training jobs, each job runs
once; a worker killed mid-job is recovered by the next worker start."""

from __future__ import annotations

import pytest

from registry.models import ModelConfig
from tests.integration.redis_server import RedisServer
from tests.integration.workers import Worker, wait_for
from training import services
from training.models import JobEvent, JobStatus, TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis(tmp_path, settings):
    server = RedisServer(tmp_path)
    # This process queues the jobs: it must use the same broker as the workers.
    from django_q.conf import Conf

    original = dict(Conf.__dict__)
    Conf.ORM, Conf.REDIS = None, server.url
    yield server
    Conf.ORM, Conf.REDIS = original.get("ORM"), original.get("REDIS")
    server.stop()


@pytest.fixture
def redis_workers(tmp_path, redis, settings, mlflow_server_uri):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    started = []

    def start(name: str) -> Worker:
        worker = Worker(tmp_path, name, Q_BROKER="redis", REDIS_URL=redis.url, CELLWISE_WORKER_NAME=name).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def small(make_model, **overrides):
    spec = dict(architecture="ann", input_fields=["sinr_mean"], output_fields=["sinr_mean"],
                window_duration_seconds=10, lookback_steps=6, forecast_steps=1, hidden_size=16, epochs=8, patience=8)
    spec.update(overrides)
    return make_model(**spec)


def test_two_workers_share_the_jobs_and_run_each_once(redis_workers, make_model):
    redis_workers("alpha")
    redis_workers("beta")
    jobs = [services.training_job_create(model=small(make_model)) for _ in range(4)]
    ids = [j.id for j in jobs]
    wait_for(lambda: TrainingJob.objects.filter(id__in=ids, status=JobStatus.COMPLETED).count() == 4,
             timeout=240, message="four jobs to complete")
    runners = {job.worker.split(":")[0].rpartition("/")[2] for job in TrainingJob.objects.filter(id__in=ids)}
    assert runners == {"alpha", "beta"}  # both clusters took work
    for job_id in ids:  # and no job ran twice
        assert JobEvent.objects.filter(job_id=job_id, kind="started").count() == 1
        assert JobEvent.objects.filter(job_id=job_id, kind="completed").count() == 1
    assert not ModelConfig.objects.filter(is_training=True).exists()


def test_a_worker_killed_mid_job_is_recovered_by_the_next_start(redis_workers, make_model):
    first = redis_workers("first")
    model = small(make_model, window_duration_seconds=10, lookback_steps=12, hidden_size=48, epochs=500,
                  patience=100, architecture="lstm")
    job = services.training_job_create(model=model)
    wait_for(lambda: TrainingJob.objects.get(id=job.id).epoch >= 1, timeout=120, message="training to start")
    first.kill()
    assert TrainingJob.objects.get(id=job.id).status == JobStatus.RUNNING
    redis_workers("second")
    failed = wait_for(lambda: (j := TrainingJob.objects.get(id=job.id)).status == JobStatus.FAILED and j,
                      timeout=60, message="recovery")
    assert "died" in failed.error_message and not ModelConfig.objects.get(id=model.id).is_training
