"""A calmer election: a challenger replaces the best only when better by more than ELECTION_MARGIN."""

from __future__ import annotations

import pytest

from performance import metrics
from performance.models import FieldEvent
from performance.services import election
from registry.models import FieldBest
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def sinr_model(make_model):
    def make():
        return make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                          lookback_steps=6, forecast_steps=2)
    return make


def _gain(evaluation, challenger, incumbent) -> float:
    score = {r.model_id: r.score for r in evaluation.records}
    return 1 - metrics.error_form("rmse", score[challenger.id]) / metrics.error_form("rmse", score[incumbent.id])


def test_a_challenger_within_the_margin_does_not_replace_the_best(sinr_model, settings):
    settings.ELECTION_MARGIN = 0.05
    incumbent = sinr_model()
    known_version(incumbent, offset=0.30)
    assert election.field_evaluate(field=FIELD).best.model_id == incumbent.id
    slightly_better = sinr_model()
    known_version(slightly_better, offset=0.28)

    evaluation = election.field_evaluate(field=FIELD)
    assert 0 < _gain(evaluation, slightly_better, incumbent) < 0.05  # really better, by less than the margin
    assert evaluation.records[0].model_id == slightly_better.id and evaluation.records[0].rank == 1
    assert FieldBest.objects.get(field=FIELD).model_id == incumbent.id and not evaluation.changed
    kept = next(r for r in evaluation.records if r.elected)
    assert kept.model_id == incumbent.id and "within the 5.00% election margin" in kept.note
    assert FieldBest.objects.get(field=FIELD).baseline_score == kept.score  # the kept best's fresh score
    event = FieldEvent.objects.filter(field=FIELD, kind="evaluated").latest("at")
    assert event.details["margin"] == 0.05 and "kept the best" in event.details["why"]

    settings.ELECTION_MARGIN = 0  # today's rule: any improvement wins
    assert election.field_evaluate(field=FIELD).best.model_id == slightly_better.id


def test_a_challenger_better_by_more_than_the_margin_replaces_the_best(sinr_model, settings):
    settings.ELECTION_MARGIN = 0.05
    incumbent = sinr_model()
    known_version(incumbent, offset=1.0)
    election.field_evaluate(field=FIELD)
    much_better = sinr_model()
    known_version(much_better, offset=0.0)

    evaluation = election.field_evaluate(field=FIELD)
    assert _gain(evaluation, much_better, incumbent) > 0.05
    assert evaluation.changed and FieldBest.objects.get(field=FIELD).model_id == much_better.id
    assert "more than the 5.00% margin" in next(r for r in evaluation.records if r.elected).note


def test_with_no_best_yet_a_learned_model_must_clearly_beat_the_best_naive_forecaster(sinr_model, make_model,
                                                                                      settings):
    settings.ELECTION_MARGIN = 0.02
    learned = sinr_model()  # the older model: it leads on a tie
    known_version(learned, offset=0.0)  # forecasts exactly what persistence forecasts
    persistence = make_model(architecture="persistence", input_fields=["sinr_mean", "rsrp_mean"],
                             output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6, forecast_steps=2)
    known_version(persistence)

    evaluation = election.field_evaluate(field=FIELD)
    assert evaluation.records[0].model_id == learned.id  # the score leader (a tie, the older model)
    assert evaluation.best.model_id == persistence.id
    kept = next(r for r in evaluation.records if r.elected)
    assert f"kept the best naive forecaster {persistence.name}" in kept.note


def test_with_no_best_yet_a_learned_model_clearly_better_than_naive_is_elected(sinr_model, make_model, settings):
    settings.ELECTION_MARGIN = 0.02
    learned = sinr_model()
    known_version(learned, offset=0.0)
    naive = make_model(architecture="persistence", input_fields=["sinr_mean", "rsrp_mean"],
                       output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6, forecast_steps=2)
    known_version(naive, offset=1.0)  # persistence + 1 dB: a naive forecaster clearly worse than the learned one

    evaluation = election.field_evaluate(field=FIELD)
    assert _gain(evaluation, learned, naive) > 0.02
    assert evaluation.best.model_id == learned.id
    assert f"elected over the best naive forecaster {naive.name}" in next(r for r in evaluation.records
                                                                          if r.elected).note
