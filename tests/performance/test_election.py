"""Scoring and election on the bundled real data, with versions of exactly known behaviour."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from performance.models import FieldEvent, FieldMonitor, ScoreRecord
from performance.services import election
from registry.models import FieldBest, MlflowOutbox
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def sinr_model(make_model):
    def make(**overrides):
        spec = dict(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                    lookback_steps=6, forecast_steps=2)
        spec.update(overrides)
        return make_model(**spec)
    return make


def test_models_are_ranked_with_baselines_and_the_winner_is_elected(sinr_model):
    persistence_like, shifted, untrained = sinr_model(), sinr_model(), sinr_model()
    known_version(persistence_like, offset=0.0)
    known_version(shifted, offset=3.0)
    evaluation = election.field_evaluate(field=FIELD, metric="rmse")

    by_name = {r.model_name: r for r in evaluation.records}
    first, second, last = by_name[persistence_like.name], by_name[shifted.name], by_name[untrained.name]
    assert [r.model_name for r in evaluation.records] == [persistence_like.name, shifted.name, untrained.name]
    assert (first.rank, second.rank, last.rank) == (1, 2, None)
    assert last.score is None and last.note == "no trained version"
    # Predicting no change *is* persistence: same samples, same score, zero skill.
    assert first.score == pytest.approx(first.persistence_score) and first.skill_vs_persistence == pytest.approx(0)
    assert second.score > first.score and second.skill_vs_persistence < 0
    assert first.samples > 500 and first.cells >= 3 and first.samples == second.samples
    assert first.lookback_mean_score is not None
    assert first.details["model"]["points"] == first.samples * 2  # every sample, both forecast steps

    best = FieldBest.objects.get(field=FIELD)
    assert best.model_id == persistence_like.id and best.baseline_score == first.score and best.metric == "rmse"
    assert first.elected and not second.elected
    monitor = FieldMonitor.objects.get(field=FIELD)  # judged by the best's baseline and metric (one copy)
    assert (monitor.state, best.baseline_score, best.metric) == ("monitoring", first.score, "rmse")
    assert FieldEvent.objects.get(field=FIELD, kind="evaluated").details["winner"] == str(persistence_like.id)
    tags = [row.payload["tags"] for row in MlflowOutbox.objects.filter(model_id=persistence_like.id,
                                                                        operation="set_model_tags")]
    merged = {k: v for t in tags for k, v in t.items()}
    assert merged[f"best_for:{FIELD}"] == "true" and float(merged[f"baseline_score:{FIELD}"]) == first.score
    assert merged[f"eval_metric:{FIELD}"] == "rmse" and f"eval_at:{FIELD}" in merged
    assert float(merged[f"score_for:{FIELD}"]) == first.score


def test_r2_prefers_the_higher_score(sinr_model):
    good, bad = sinr_model(), sinr_model()
    known_version(good)
    known_version(bad, offset=5.0)
    evaluation = election.field_evaluate(field=FIELD, metric="r2")
    assert evaluation.records[0].model_id == good.id
    assert evaluation.records[0].score > evaluation.records[1].score


def test_a_tie_keeps_the_current_best_then_prefers_the_older_model(sinr_model):
    older, newer = sinr_model(), sinr_model()
    known_version(older)
    known_version(newer)
    assert election.field_evaluate(field=FIELD).best.model_id == older.id
    election.field_best_override(field=FIELD, model_id=newer.id)
    evaluation = election.field_evaluate(field=FIELD)
    assert evaluation.records[0].score == evaluation.records[1].score
    assert evaluation.best.model_id == newer.id and not evaluation.changed


def test_only_unscored_models_elect_nobody(sinr_model):
    sinr_model()
    evaluation = election.field_evaluate(field=FIELD)
    assert evaluation.best is None and evaluation.records[0].score is None
    assert not FieldBest.objects.exists()


def test_no_models_is_an_empty_result():
    evaluation = election.field_evaluate(field="cqi_max")
    assert evaluation.records == [] and evaluation.best is None


def test_the_database_allows_one_best_per_field(sinr_model):
    first, second = sinr_model(), sinr_model()
    version = known_version(first)
    known_version(second)
    election.field_evaluate(field=FIELD)
    with pytest.raises(IntegrityError), transaction.atomic():
        FieldBest.objects.create(field=FIELD, model=second, version=version, metric="rmse", baseline_score=1,
                                 elected_at=FieldBest.objects.get().elected_at, elected_by="test")


def test_set_best_uses_the_latest_score_as_baseline_then_monitor_keeps_it(sinr_model, user):
    good, worse = sinr_model(), sinr_model()
    known_version(good)
    known_version(worse, offset=2.0)
    evaluation = election.field_evaluate(field=FIELD)
    worse_score = next(r.score for r in evaluation.records if r.model_id == worse.id)

    best = election.field_best_override(field=FIELD, model_id=worse.id, user=user)
    assert best.model_id == worse.id and best.baseline_score == worse_score and best.elected_by == "alice"
    assert FieldMonitor.objects.get(field=FIELD).state == "monitoring"
    assert FieldBest.objects.get(field=FIELD).baseline_score == worse_score  # the one baseline the monitor reads
    # Old best loses its tags; the new one gains them.
    assert MlflowOutbox.objects.filter(model_id=good.id, operation="delete_model_tags").exists()

    check = election.field_best_check(field=FIELD)
    assert check.record.score == pytest.approx(worse_score) and check.degraded is False
    assert check.record.trigger == "monitor"
    assert FieldBest.objects.get(field=FIELD).model_id == worse.id  # monitor never changes the best
    assert ScoreRecord.objects.filter(field=FIELD).count() == 3


def test_set_best_scores_a_model_that_has_no_score_yet(sinr_model):
    model = sinr_model()
    known_version(model)
    best = election.field_best_override(field=FIELD, model_id=model.id)
    record = ScoreRecord.objects.get(model_id=model.id)
    assert record.trigger == "set_best" and best.baseline_score == record.score is not None
