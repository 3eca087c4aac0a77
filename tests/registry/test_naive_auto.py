"""NAIVE_MODELS_AUTO: a learned model brings its fields' naive forecasters, trained beside its
first job, so a field whose learned models lose serves a naive forecast without anyone
registering one."""

from __future__ import annotations

import pytest

from performance.services import election
from registry.models import ModelConfig
from tests.factories import known_version
from training import pipeline, services as training_services
from training.models import TrainingJob

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
SPEC = dict(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
            lookback_steps=6, forecast_steps=2)


@pytest.fixture(autouse=True)
def _auto(settings):
    settings.NAIVE_MODELS_AUTO = True


def naive_of(window: int = 10) -> dict[str, ModelConfig]:
    return {m.architecture: m for m in ModelConfig.objects.filter(
        architecture__in=["persistence", "lookback_mean"], window_duration_seconds=window)}


def test_a_learned_model_brings_persistence_and_the_lookback_mean_once_per_config(make_model):
    learned = make_model(architecture="ann", **SPEC)
    naive = naive_of()
    assert set(naive) == {"persistence", "lookback_mean"}
    for model in naive.values():
        assert (model.input_fields, model.output_fields) == ([FIELD], [FIELD])
        assert (model.lookback_steps, model.forecast_steps) == (learned.lookback_steps, learned.forecast_steps)
    assert naive["persistence"].name == "sinr_mean-persistence-10s-6x2"

    make_model(architecture="linear", **SPEC)  # same field and config: the same naive forecasters
    assert ModelConfig.objects.count() == 4
    make_model(architecture="linear", **{**SPEC, "window_duration_seconds": 60})  # another window: its own
    assert ModelConfig.objects.count() == 7 and set(naive_of(60)) == {"persistence", "lookback_mean"}
    make_model(architecture="persistence", **{**SPEC, "lookback_steps": 4})  # a naive model brings nothing
    assert ModelConfig.objects.count() == 8


def test_a_taken_name_leaves_the_learned_model_standing(make_model):
    make_model(name="sinr_mean-persistence-10s-6x2", architecture="ann", **SPEC)  # the name, on a learned model
    learned = make_model(architecture="linear", **SPEC)
    assert ModelConfig.objects.filter(id=learned.id).exists()
    assert set(naive_of()) == {"lookback_mean"}


def test_the_naive_forecasters_train_with_the_first_job_and_share_its_hook(make_model,
                                                                         django_capture_on_commit_callbacks):
    learned = make_model(architecture="ann", **SPEC)
    hook = "performance.tasks.evaluate_fields_after_training"
    with django_capture_on_commit_callbacks(execute=True):  # the broker hand-off, after commit
        training_services.training_job_create(model=learned, reason="demo", hook=hook)
    naive_jobs = TrainingJob.objects.filter(model__in=naive_of().values())
    assert naive_jobs.count() == 2 and {j.reason for j in naive_jobs} == {f"naive forecaster beside {learned.name}"}
    from django_q.models import OrmQ

    hooks = {row.task["args"][0]: row.task.get("hook") for row in OrmQ.objects.all()}
    assert {hooks[str(j.id)] for j in naive_jobs} == {hook}

    other = make_model(architecture="linear", **SPEC)
    training_services.training_job_create(model=other)  # theirs are still queued: not again
    assert TrainingJob.objects.filter(model__in=naive_of().values()).count() == 2


def test_a_field_whose_learned_model_loses_serves_the_naive_forecaster_it_brought(make_model):
    learned = make_model(architecture="ann", **SPEC)
    known_version(learned, offset=3.0)  # the last value + 3 dB: loses to persistence everywhere
    training_services.training_job_create(model=learned)
    for job in TrainingJob.objects.filter(model__in=naive_of().values()):
        assert pipeline.run(job.id) == "completed"
    best = election.field_evaluate(field=FIELD).best
    assert best.model_id in {m.id for m in naive_of().values()}
