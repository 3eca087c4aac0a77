"""The admin's bulk actions call the services and say, per row, what happened: a success, or
the service's refusal (a warning naming it) without stopping the other rows."""

from __future__ import annotations

import pytest
from django.contrib import messages

from training import services
from training.models import JobStatus, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


def act(browser, changelist: str, action: str, ids) -> list[tuple[int, str]]:
    response = browser.post(changelist, {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True)
    assert response.status_code == 200
    return [(m.level, m.message) for m in response.context["messages"]]


def test_train_action_queues_each_model_and_names_the_one_already_training(admin_browser, make_model):
    busy, idle = make_model(), make_model()
    held = services.training_job_create(model=busy)
    shown = act(admin_browser, "/admin/registry/modelconfig/", "train_models", [busy.id, idle.id])
    job = TrainingJob.objects.get(model=idle)
    assert (messages.SUCCESS, f"{idle.name}: queued job {job.id}") in shown
    assert [level for level, text in shown if busy.name in text or str(held.id) in text] == [messages.WARNING]
    assert TrainingJob.objects.filter(model=busy).count() == 1


def test_cancel_action_cancels_the_active_job_and_refuses_the_ended_one(admin_browser, make_model):
    active = services.training_job_create(model=make_model())
    ended = services.training_job_create(model=make_model())
    TrainingJob.objects.filter(id=ended.id).update(status=JobStatus.COMPLETED)
    shown = act(admin_browser, "/admin/training/trainingjob/", "cancel", [active.id, ended.id])
    assert (messages.SUCCESS, f"{active}: cancel requested") in shown
    assert sum(level == messages.WARNING for level, _ in shown) == 1
    assert TrainingJob.objects.get(id=active.id).status == JobStatus.CANCELLED
    assert TrainingJob.objects.get(id=ended.id).status == JobStatus.COMPLETED


def test_set_best_of_an_untrained_model_is_refused_per_field(admin_browser, make_model):
    from registry.models import ModelVersion

    model = make_model(output_fields=["sinr_mean", "rsrp_mean"])
    version = ModelVersion.objects.create(model=model, version=1, bundle_path="missing", unusable_reason="gone")
    shown = act(admin_browser, "/admin/registry/modelversion/", "set_best", [version.id])
    assert [level for level, _ in shown] == [messages.WARNING, messages.WARNING]
    assert {text.split(":")[0] for _, text in shown} == {"sinr_mean", "rsrp_mean"}
