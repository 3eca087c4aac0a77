"""What crashes leave behind, with real `manage.py worker` processes SIGKILLed at the moment that
matters, the session's MLflow server and S3 bucket:

- a worker killed after writing its bundle, before recording the version: recovery fails the
  job and removes the bundle;
- a worker killed while the MLflow run is being logged: the run is left RUNNING, and the next
  flush finishes that same run (one run, one registered version);
- a model deleted: its bundles go at once, or, with the storage down, at the next reconcile;
- the reconcile removes only what no version references and no active job will claim, and
  ends runs nobody will finish.
"""

from __future__ import annotations

import io
import time
import uuid

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction

from registry import bundle_store
from registry.models import MlflowOutbox, ModelConfig, ModelVersion
from tests.factories import known_version
from tests.integration.redis_server import free_port
from tests.integration.workers import Worker, wait_for
from training import services
from training.bundle import bundle_key
from training.models import JobStatus, TrainingJob
from training.tracking import JOB_TAG

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(tmp_path, settings, mlflow_server_uri, s3_endpoint):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(tmp_path, name, **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def stored(key: str) -> bool:
    location = django_settings.STORAGES["models"]["OPTIONS"]["location"]
    s3 = boto3.client("s3", endpoint_url=django_settings.AWS_S3_ENDPOINT_URL)
    found = s3.list_objects_v2(Bucket=django_settings.AWS_STORAGE_BUCKET_NAME, Prefix=f"{location}/{key}")
    return found.get("KeyCount", 0) > 0


def job(job_id) -> TrainingJob:
    return TrainingJob.objects.select_related("version").get(id=job_id)


def mlflow_client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_worker_killed_after_writing_its_bundle_leaves_no_bundle(workers, make_model):
    model = make_model(architecture="linear", window_duration_seconds=10, lookback_steps=12)
    first = workers("first")
    queued = services.training_job_create(model=model)
    key = bundle_key(model_id=model.id, job_id=queued.id)
    with transaction.atomic():
        # Recording a version locks the model's row first: holding it stops the worker right
        # after its bundle is written, where a crash used to leave that bundle for ever.
        ModelConfig.objects.select_for_update().get(id=model.id)
        wait_for(lambda: stored(key), timeout=180, message=f"the bundle; worker log:\n{first.log()[-3000:]}")
        time.sleep(0.5)
        first.kill()
    assert job(queued.id).status == JobStatus.RUNNING and not ModelVersion.objects.filter(model=model).exists()
    assert stored(key)

    second = workers("second")
    failed = wait_for(lambda: job(queued.id).status == JobStatus.FAILED and job(queued.id), timeout=90,
                      message=f"recovery; log:\n{second.log()[-3000:]}")
    assert "died" in failed.error_message
    wait_for(lambda: not stored(key), timeout=30, message="the bundle to be removed")
    wait_for(lambda: f"recovery: removed orphan bundle {key}" in second.log(), timeout=30, message="the report")
    assert not ModelConfig.objects.get(id=model.id).is_training


def test_a_worker_killed_while_logging_the_run_leaves_one_finished_run(workers, make_model, mlflow_server_uri):
    model = make_model(architecture="lstm", window_duration_seconds=10, lookback_steps=12, hidden_size=64, epochs=1)
    client = mlflow_client(mlflow_server_uri)
    experiment = f"{django_settings.MLFLOW_EXPERIMENT_PREFIX}/{model.name}"
    first = workers("first")
    queued = services.training_job_create(model=model)

    def run_being_logged():
        found = client.get_experiment_by_name(experiment)
        runs = found and client.search_runs([found.experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{queued.id}'")
        return runs and runs[0].info.status == "RUNNING" and runs[0]

    run = wait_for(run_being_logged, timeout=240, interval=0.05,
                   message=f"the run being logged; worker log:\n{first.log()[-3000:]}")
    first.kill()
    done = job(queued.id)
    assert done.status == JobStatus.COMPLETED and done.version.mlflow_pending  # trained, usable, not mirrored
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # what a crash used to leave for ever
    assert MlflowOutbox.objects.filter(operation="log_training_run").exists()

    second = workers("second")
    wait_for(lambda: not MlflowOutbox.objects.filter(operation="log_training_run").exists(), timeout=180,
             message=f"the mirror to catch up; log:\n{second.log()[-3000:]}")
    runs = client.search_runs([run.info.experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{queued.id}'")
    assert [(r.info.run_id, r.info.status) for r in runs] == [(run.info.run_id, "FINISHED")]
    versions = client.search_model_versions(f"name = '{model.id}'")
    assert [v.run_id for v in versions] == [run.info.run_id]
    version = ModelVersion.objects.get(id=done.version_id)
    assert version.mlflow_run_id == run.info.run_id and version.mlflow_version == versions[0].version


def test_deleting_a_model_removes_its_bundles_now_or_after_a_storage_outage(workers, api, make_model):
    from django_q.models import Task

    model = make_model()
    keys = [known_version(model, offset=0.0).bundle_path, known_version(model, offset=1.0).bundle_path]
    assert all(stored(k) for k in keys)
    healthy = workers("healthy")
    assert api.delete(f"/models/{model.id}").status_code == 204
    wait_for(lambda: not any(stored(k) for k in keys), timeout=90,
             message=f"the bundles to go; worker log:\n{healthy.log()[-3000:]}")
    healthy.stop()

    other = make_model()
    key = known_version(other).bundle_path
    # This worker's models storage refuses connections: the removal fails there...
    cut_off = workers("cut-off", AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert api.delete(f"/models/{other.id}").status_code == 204  # ...and the model goes anyway
    attempt = wait_for(lambda: Task.objects.filter(name=f"bundles-delete-{other.id}").first(), timeout=90,
                       message=f"the removal attempt; worker log:\n{cut_off.log()[-3000:]}")
    assert not attempt.success and "models storage is unavailable" in attempt.result
    assert stored(key)
    out = io.StringIO()
    call_command("reconcile_leftovers", stdout=out)  # what the schedule runs, with the storage back
    assert f"removed orphan bundle {key}" in out.getvalue()
    assert not stored(key)


def test_the_reconcile_removes_only_what_nobody_will_use(settings, make_model, mlflow_server_uri, s3_endpoint):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    model, other = make_model(), make_model()
    kept = known_version(model).bundle_path  # a version refers to it
    active = services.training_job_create(model=model)  # queued: it will write this key
    claimed = bundle_store.write(bundle_key(model_id=model.id, job_id=active.id), b"being written")
    failed = services.training_job_create(model=other)
    services.training_job_fail(job_id=failed.id, error="killed")
    orphan = bundle_store.write(bundle_key(model_id=other.id, job_id=failed.id), b"left by a crash")
    stray = bundle_store.write(f"models/{uuid.uuid4()}/{uuid.uuid4()}.pt", b"of a model deleted long ago")

    client = mlflow_client(mlflow_server_uri)
    experiment = client.create_experiment(f"{settings.MLFLOW_EXPERIMENT_PREFIX}/leftovers-{uuid.uuid4().hex[:8]}")
    abandoned = client.create_run(experiment, tags={JOB_TAG: str(failed.id)}).info.run_id
    live = client.create_run(experiment, tags={JOB_TAG: str(active.id)}).info.run_id

    out = io.StringIO()
    call_command("reconcile_leftovers", "--dry-run", stdout=out)
    report = out.getvalue()
    assert f"would remove orphan bundle {orphan}" in report and f"would remove orphan bundle {stray}" in report
    assert kept not in report and claimed not in report
    assert f"would end MLflow run {abandoned}" in report and live not in report
    assert all(stored(k) for k in (kept, claimed, orphan, stray))
    assert client.get_run(abandoned).info.status == "RUNNING"

    call_command("reconcile_leftovers", stdout=io.StringIO())
    assert stored(kept) and stored(claimed) and not stored(orphan) and not stored(stray)
    assert client.get_run(abandoned).info.status == "KILLED" and client.get_run(live).info.status == "RUNNING"
    client.set_terminated(live, "FINISHED")
