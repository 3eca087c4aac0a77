"""The dashboard's rows: each field's best, its latest score and a sparkline of the best's scores."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from performance import selectors
from performance.models import ScoreRecord
from registry import services as registry_services
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


def test_the_sparkline_holds_the_newest_scores_of_the_best_only(make_model):
    best, other = (make_model(input_fields=[FIELD], output_fields=[FIELD]) for _ in range(2))
    registry_services.field_best_set(field=FIELD, model=best, version=known_version(best), metric="rmse",
                                     baseline_score=1.0, elected_by="test")
    now = timezone.now()
    ScoreRecord.objects.bulk_create([
        ScoreRecord(evaluation=uuid.uuid4(), field=FIELD, model_id=model.id, model_name=model.name, metric="rmse",
                    score=float(n) + (0.5 if model is other else 0.0), trigger="auto_monitor",
                    measured_at=now - timedelta(minutes=30 - n))
        for n in range(30) for model in (best, other)
    ])
    row = next(r for r in selectors.dashboard_rows()[0] if r["field"] == FIELD)
    points = selectors.SPARK_POINTS
    assert row["spark"] == [float(n) for n in range(30 - points, 30)]  # oldest first, the best's only
    assert row["latest"].score == 29.0 and row["latest"].model_id == best.id
