"""Job transitions, the training lock, cancellation and recovery (no worker process needed)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, Invalid
from registry.models import ModelConfig
from training import services
from training.models import JobEvent, JobStatus, TrainingJob

pytestmark = pytest.mark.django_db


def locked(model) -> bool:
    return ModelConfig.objects.get(id=model.id).is_training


def test_one_job_per_model_at_a_time(make_model):
    model = make_model()
    job = services.training_job_create(model=model)
    assert job.status == JobStatus.QUEUED and locked(model)
    with pytest.raises(Conflict) as error:
        services.training_job_create(model=model)
    assert str(job.id) in error.value.message and error.value.details["job_id"] == str(job.id)
    assert TrainingJob.objects.count() == 1


def test_lookback_out_of_range_names_the_range(make_model, settings):
    with pytest.raises(Invalid) as error:
        services.training_job_create(model=make_model(), lookback_seconds=10)
    expected = f"from {settings.TRAINING_MIN_LOOKBACK_SECONDS} to {settings.TRAINING_MAX_LOOKBACK_SECONDS}"
    assert expected in error.value.message


def test_claim_happens_once(make_model):
    job = services.training_job_create(model=make_model())
    assert services.training_job_claim(job_id=job.id, worker="a:1") is not None
    assert services.training_job_claim(job_id=job.id, worker="b:2") is None
    assert TrainingJob.objects.get(id=job.id).worker == "a:1"


def test_cancel_queued_job_frees_the_lock_and_finished_job_is_409(make_model):
    model = make_model()
    job = services.training_job_create(model=model)
    cancelled = services.training_job_cancel(job=job)
    assert cancelled.status == JobStatus.CANCELLED and not locked(model)
    assert services.training_job_claim(job_id=job.id, worker="a:1") is None  # the queued task finds nothing
    with pytest.raises(Conflict):
        services.training_job_cancel(job=job)
    kinds = list(JobEvent.objects.filter(job_id=job.id).values_list("kind", flat=True))
    assert kinds == ["queued", "cancelled"]


def test_cancel_running_job_flags_it_and_the_next_epoch_sees_it(make_model):
    model = make_model()
    job = services.training_job_create(model=model)
    services.training_job_claim(job_id=job.id, worker="a:1")
    assert services.training_job_progress(job_id=job.id, epoch=1, train_loss=1.0, val_loss=1.0) is True
    services.training_job_cancel(job=job)
    assert locked(model)  # still running until the worker stops
    assert services.training_job_progress(job_id=job.id, epoch=2, train_loss=1.0, val_loss=1.0) is False
    assert services.training_job_mark_cancelled(job_id=job.id)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.epoch == 1 and not locked(model)


def test_fail_releases_the_lock_and_only_once(make_model):
    model = make_model()
    job = services.training_job_create(model=model)
    services.training_job_claim(job_id=job.id, worker="a:1")
    assert services.training_job_fail(job_id=job.id, error="boom")
    assert not services.training_job_fail(job_id=job.id, error="again")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_message == "boom" and not locked(model)


def test_recovery_fails_jobs_of_dead_or_silent_workers_and_frees_stale_locks(make_model):
    import socket

    dead = services.training_job_create(model=make_model())
    services.training_job_claim(job_id=dead.id, worker=f"{socket.gethostname()}:999999")  # no such pid
    silent = services.training_job_create(model=make_model())
    services.training_job_claim(job_id=silent.id, worker="elsewhere:1")
    TrainingJob.objects.filter(id=silent.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    alive = services.training_job_create(model=make_model())
    services.training_job_claim(job_id=alive.id, worker=services.worker_id())  # this process: alive
    orphan_lock = make_model()
    ModelConfig.objects.filter(id=orphan_lock.id).update(
        is_training=True, training_locked_at=timezone.now() - timedelta(minutes=5))

    lines = services.training_recover()
    assert len(lines) == 3
    statuses = dict(TrainingJob.objects.values_list("id", "status"))
    assert statuses[dead.id] == statuses[silent.id] == JobStatus.FAILED
    assert statuses[alive.id] == JobStatus.RUNNING
    assert "died" in TrainingJob.objects.get(id=dead.id).error_message
    assert not ModelConfig.objects.get(id=orphan_lock.id).is_training
    assert ModelConfig.objects.get(id=alive.model_id).is_training
    assert services.training_recover() == []  # idempotent


def test_delete_model_with_active_job_is_409(make_model, api):
    model = make_model()
    services.training_job_create(model=model)
    response = api.delete(f"/models/{model.id}")
    assert response.status_code == 409 and "cancel it first" in response.json()["detail"]


class TestApi:
    def test_train_list_get_cancel(self, api, make_model):
        model = make_model()
        response = api.post("/training/train", {"model_id": str(model.id), "lookback_seconds": 86400})
        assert response.status_code == 202, response.content
        job = response.json()
        assert job["status"] == "queued" and job["lookback_seconds"] == 86400 and job["total_epochs"] == 3
        second = api.post("/training/train", {"model_id": str(model.id)})
        assert second.status_code == 409 and job["id"] in second.json()["detail"]
        assert api.get(f"/training/jobs/{job['id']}").json()["model_name"] == model.name
        assert [j["id"] for j in api.get("/training/jobs", model_id=str(model.id)).json()["items"]] == [job["id"]]
        assert api.get("/training/jobs", status="running").json()["count"] == 0
        cancelled = api.delete(f"/training/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert api.delete(f"/training/jobs/{job['id']}").status_code == 409
        details = api.get("/models", include_details="true").json()["items"][0]["details"]
        assert details["training"]["status"] == "cancelled"

    def test_error_codes(self, api, make_model):
        assert api.post("/training/train", {"model_id": str(uuid.uuid4())}).status_code == 404
        response = api.post("/training/train", {"model_id": str(make_model().id), "lookback_seconds": 5})
        assert response.status_code == 422 and "lookback_seconds" in response.json()["detail"]
        response = api.get("/training/jobs", status="exploded")
        assert response.status_code == 422 and "status" in response.json()["detail"]
        assert api.get(f"/training/jobs/{uuid.uuid4()}").status_code == 404
        assert api.delete(f"/training/jobs/{uuid.uuid4()}").status_code == 404

    def test_jobs_are_newest_first_and_paged(self, api, make_model):
        ids = []
        for _ in range(3):
            model = make_model()
            ids.append(api.post("/training/train", {"model_id": str(model.id)}).json()["id"])
        page = api.get("/training/jobs", limit=2).json()
        assert page["count"] == 3 and [j["id"] for j in page["items"]] == ids[::-1][:2]

    def test_anonymous_cannot_train(self, anonymous_api, make_model):
        assert anonymous_api.post("/training/train", {"model_id": str(make_model().id)}).status_code == 401


def _run_epochs(job, epochs) -> list[list[str]]:
    """Record `epochs` epochs of a running job; the SQL each one sent."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sent = []
    for epoch in epochs:
        with CaptureQueriesContext(connection) as queries:
            assert services.training_job_progress(job_id=job.id, epoch=epoch, train_loss=1000.0 + epoch,
                                                         val_loss=2000.0 + epoch)
        sent.append([q["sql"] for q in queries.captured_queries])
    return sent


def test_each_epoch_appends_one_curve_row_at_a_constant_cost(make_model, api):
    job = services.training_job_create(model=make_model(epochs=300))
    services.training_job_claim(job_id=job.id, worker="a:1")
    sent = _run_epochs(job, range(1, 301))
    # The 300th epoch sends the same statements as the first: nothing grows with the curve.
    assert len(sent[-1]) == len(sent[0]) and sum(map(len, sent[-1])) <= sum(map(len, sent[0])) + 40
    curve = api.get(f"/training/jobs/{job.id}").json()["history"]
    assert [row["epoch"] for row in curve] == list(range(1, 301))
    assert curve[-1] == {"epoch": 300, "train_loss": 1300.0, "val_loss": 2300.0}
    services.training_job_cancel(job=job)
    assert services.training_job_progress(job_id=job.id, epoch=301, train_loss=0.1, val_loss=0.1) is False
    assert len(api.get(f"/training/jobs/{job.id}").json()["history"]) == 300  # a refused epoch adds nothing


def test_the_model_page_draws_every_curve_in_a_constant_number_of_queries(make_model, user, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    model = make_model()
    client.force_login(user)

    def train_and_count() -> int:
        job = services.training_job_create(model=model)
        services.training_job_claim(job_id=job.id, worker="a:1")
        _run_epochs(job, range(1, 4))
        services.training_job_fail(job_id=job.id, error="stopped by the test")
        with CaptureQueriesContext(connection) as queries:
            page = client.get(f"/models/{model.id}/").content.decode()
        assert page.count('data-chart="curve-') == TrainingJob.objects.filter(model=model).count()
        return len(queries)

    with_one = train_and_count()
    train_and_count()
    assert train_and_count() == with_one  # three jobs' curves cost what one did


def test_a_job_queued_again_after_its_task_was_lost_keeps_its_result_hook(make_model,
                                                                          django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    hook = "performance.tasks.evaluate_fields_after_training"
    with django_capture_on_commit_callbacks(execute=True):
        job = services.training_job_create(model=make_model(), reason="demo", hook=hook)
    OrmQ.objects.all().delete()  # the task went with a cluster that died
    assert services.training_requeue_queued() == [f"queued job {job.id} of {job.model.name} again"]
    (package,) = OrmQ.objects.all()
    assert list(package.task["args"]) == [str(job.id)] and package.task["hook"] == hook  # lost before
