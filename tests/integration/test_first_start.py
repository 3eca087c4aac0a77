"""First start and restarts with real `manage.py` processes: recovery queues again only the
jobs whose task a dead cluster took off the broker, and a field trained by several models is
evaluated once, after the last of them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.utils import timezone

from mlops_site.management.commands.bootstrap import DEMO_MODELS
from performance.models import FieldEvent, ScoreRecord
from tests.integration.redis_server import RedisServer
from tests.integration.workers import ROOT, Worker, wait_for, worker_env
from training import broker, services
from training.models import JobEvent, JobStatus, TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"
EVALUATE_HOOK = "performance.tasks.evaluate_fields_after_training"


@pytest.fixture
def tracked(settings, mlflow_server_uri, s3_endpoint):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    return settings


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(tmp_path, name, **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def redis(tmp_path):
    """A private redis-server as this process's broker too (it queues the jobs)."""
    from django_q.conf import Conf

    server = RedisServer(tmp_path)
    original = (Conf.ORM, Conf.REDIS)
    Conf.ORM, Conf.REDIS = None, server.url
    yield server
    Conf.ORM, Conf.REDIS = original
    server.stop()


def orm_training_tasks() -> list[str]:
    """Job ids of every training task in the ORM broker, waiting or taken: one per enqueue."""
    from django_q.models import OrmQ

    return sorted(str(row.task["args"][0]) for row in OrmQ.objects.all() if row.func() == broker.TRAINING_TASK)


def small(make_model, **overrides):
    spec = dict(architecture="ann", input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10,
                lookback_steps=6, forecast_steps=1, hidden_size=16, epochs=6, patience=6)
    return make_model(**{**spec, **overrides})


def test_a_worker_started_after_bootstrap_does_not_queue_the_demo_jobs_again(tracked, workers, tmp_path):
    # Its own var/ (credentials, key file), this process's secret key: the broker's packages are signed.
    own = {"CELLWISE_VAR_DIR": str(tmp_path / "var"), "DJANGO_SECRET_KEY": tracked.SECRET_KEY}
    env = worker_env(**own)
    subprocess.run([sys.executable, "manage.py", "bootstrap", "--demo"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    demo = sorted(str(job_id) for job_id in TrainingJob.objects.values_list("id", flat=True))
    # Each learned model's job, and one per naive forecaster of each demo (field, window, lookback, forecast).
    configs = {(tuple(m["output_fields"]), m["window_duration_seconds"], m["lookback_steps"], m["forecast_steps"])
               for m in DEMO_MODELS}
    assert len(demo) == len(DEMO_MODELS) + 2 * len(configs) and orm_training_tasks() == demo

    worker = workers("first-start", **own)
    wait_for(lambda: "schedule:" in worker.log(), timeout=60, message=f"start-up; log:\n{worker.log()[-2000:]}")
    time.sleep(1)  # the start-up lines are written before qcluster takes any task
    assert "again" not in worker.log(), worker.log()
    assert orm_training_tasks() == demo  # each demo job has one task: taken or waiting, none twice
    assert all(JobEvent.objects.filter(job_id=job_id, kind="queued").count() == 1 for job_id in demo)


def test_the_job_a_killed_cluster_had_taken_off_the_broker_is_queued_again(tracked, redis, workers, make_model):
    """With one worker process, the cluster runs one job and holds the next one's task in memory;
    killed, it takes that task with it. The next start queues exactly that job again."""
    long = dict(architecture="lstm", lookback_steps=12, hidden_size=48, epochs=500, patience=100)
    running = services.training_job_create(model=small(make_model, **long))
    held = services.training_job_create(model=small(make_model, **long))
    env = {"Q_BROKER": "redis", "REDIS_URL": redis.url, "Q_WORKERS": "1"}
    first = workers("first", **env)
    wait_for(lambda: TrainingJob.objects.get(id=running.id).epoch >= 1, timeout=120,
             message=f"the first job to train; log:\n{first.log()[-2000:]}")
    wait_for(lambda: broker.waiting_job_ids() == set(), timeout=30, message="the cluster to take the second task")
    first.kill()
    assert TrainingJob.objects.get(id=held.id).status == JobStatus.QUEUED  # taken, never started

    second = workers("second", **env)
    wait_for(lambda: TrainingJob.objects.get(id=held.id).status == JobStatus.RUNNING, timeout=120,
             message=f"the held job to run; log:\n{second.log()[-2000:]}")
    log = second.log()
    assert f"queued job {held.id}" in log and f"queued job {running.id}" not in log
    assert TrainingJob.objects.get(id=running.id).status == JobStatus.FAILED  # its worker died
    services.training_job_cancel(job=TrainingJob.objects.get(id=held.id))


def test_a_field_is_evaluated_once_after_the_last_of_its_models_trained(tracked, workers, make_model):
    models = [small(make_model), small(make_model, architecture="linear")]
    jobs = [services.training_job_create(model=m, reason="demo", hook=EVALUATE_HOOK) for m in models]
    started = timezone.now()
    worker = workers("demo", Q_WORKERS="1")  # one job at a time: the first ends long before the second
    wait_for(lambda: FieldEvent.objects.filter(field=FIELD, kind="evaluated").exists(), timeout=240,
             message=f"the evaluation; log:\n{worker.log()[-3000:]}")
    time.sleep(2)  # a second evaluation, if there were one, would follow the first hook at once
    evaluated = FieldEvent.objects.get(field=FIELD, kind="evaluated")
    ended = [TrainingJob.objects.get(id=job.id) for job in jobs]
    assert all(job.status == JobStatus.COMPLETED for job in ended)
    assert evaluated.at > max(job.completed_at for job in ended) > started
    records = ScoreRecord.objects.filter(evaluation=evaluated.details["evaluation"])
    assert records.count() == 2 and all(r.score is not None for r in records)  # both trained, both scored
