"""The below_naive flag: set when the best learned model loses to a naive forecaster, cleared
when it stops losing, with an event each time; on synthetic series where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from performance.models import FieldEvent, FieldMonitor
from performance.services import election
from tests.factories import known_version, trained_version, write_series

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
DAYS = 2


@pytest.fixture
def synthetic(settings, tmp_path):
    settings.EMBEDDED_DATA_DIRS = [tmp_path]
    settings.EVALUATION_SPAN_SECONDS = 6 * 3600

    def write(cell: int, values) -> None:
        write_series(tmp_path, cell, values)
    return write


def events() -> list[str]:
    return list(FieldEvent.objects.filter(kind__in=["below_naive", "above_naive"]).values_list("kind", flat=True))


def test_a_random_walk_puts_a_biased_model_below_naive_then_persistence_clears_it(synthetic, make_model):
    rng = np.random.default_rng(1)
    n = DAYS * 8640
    for cell in (1, 2):
        synthetic(cell, np.cumsum(rng.normal(0, 1, n)))  # persistence is the best possible forecast
    spec = dict(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                forecast_steps=1)
    biased = make_model(**spec)
    known_version(biased, offset=1.0)
    evaluation = election.field_evaluate(field=FIELD)
    assert evaluation.records[0].score > evaluation.records[0].persistence_score
    assert FieldMonitor.objects.get(field=FIELD).below_naive is True
    assert events() == ["below_naive"]

    election.field_evaluate(field=FIELD)  # still below: no new event
    assert events() == ["below_naive"]

    persistence = make_model(**spec)
    known_version(persistence, offset=0.0)
    evaluation = election.field_evaluate(field=FIELD)
    assert evaluation.best.model_id == persistence.id
    assert FieldMonitor.objects.get(field=FIELD).below_naive is False
    assert events() == ["below_naive", "above_naive"]


def test_a_learnable_series_keeps_a_trained_linear_model_above_naive(synthetic, make_model):
    rng = np.random.default_rng(2)
    n = DAYS * 8640
    for cell in (1, 2):
        signs = np.where(np.arange(n) % 2 == 0, 5.0, -5.0)  # flips every window: persistence is worst
        synthetic(cell, signs + rng.normal(0, 0.3, n))
    model = make_model(architecture="linear", input_fields=[FIELD], output_fields=[FIELD],
                       window_duration_seconds=10, lookback_steps=4, forecast_steps=2)
    trained_version(model)
    evaluation = election.field_evaluate(field=FIELD)
    record = evaluation.records[0]
    assert record.skill_vs_persistence > 0.9
    assert record.score < record.lookback_mean_score
    assert FieldMonitor.objects.get(field=FIELD).below_naive is False and events() == []
