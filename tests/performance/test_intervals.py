"""Evaluations report each model's prediction-interval coverage and mean width (bundled data)."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import Client

from performance.models import ScoreRecord
from performance.scoring import EvaluationData, _thin, score_version
from registry.models import ModelVersion
from tests.factories import known_version
from training.sequences import build_samples

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def models(make_model):
    spec = dict(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                forecast_steps=2)
    narrow, wide, old = make_model(**spec), make_model(**spec), make_model(**spec)
    known_version(narrow, interval_scale=1.0)
    known_version(wide, interval_scale=4.0)
    known_version(old)  # trained before intervals
    return narrow, wide, old


def test_evaluation_reports_coverage_and_mean_width(api, models, settings):
    narrow, wide, old = models
    body = api.post(f"/performance/{FIELD}/evaluate").json()
    results = {r["model_id"]: r for r in body["results"]}
    n, w = results[str(narrow.id)]["interval"], results[str(wide.id)]["interval"]
    assert n["nominal"] == w["nominal"] == settings.INTERVAL_COVERAGE == 0.9
    # These versions' intervals are forecast ± scale·coverage at every step.
    assert n["mean_width"] == pytest.approx(2 * 1.0 * 0.9, rel=1e-5)
    assert w["mean_width"] == pytest.approx(2 * 4.0 * 0.9, rel=1e-5)
    assert 0 < n["coverage"] < w["coverage"] <= 1
    assert results[str(old.id)]["interval"] is None
    # The versions forecast "no change": persistence, whose interval was calibrated with them.
    details = results[str(narrow.id)]["metrics"]
    assert details["persistence"]["interval_coverage"] == pytest.approx(n["coverage"])
    assert details["model"]["interval_mean_width"] == pytest.approx(n["mean_width"])
    # Stored with the score record, read back by the last-evaluation endpoint.
    record = ScoreRecord.objects.get(model_id=narrow.id)
    assert (record.interval_nominal, record.interval_coverage) == (0.9, n["coverage"])
    again = {r["model_id"]: r for r in api.get(f"/performance/{FIELD}").json()["results"]}
    assert again[str(wide.id)]["interval"] == w


def test_coverage_is_the_share_of_truths_inside_the_interval(models, settings):
    """Recomputed from the evaluation's own samples: persistence errors against the half width."""
    narrow = models[0]
    settings.INTERVAL_COVERAGE = 0.5
    data = EvaluationData([FIELD])
    result = score_version(narrow, ModelVersion.objects.get(model=narrow), FIELD, data)

    errors = []
    for cell in data.cells:  # the version has no trained_until: scored over the whole span
        frame = data.frame(cell, 10).between(data.start, data.now)
        samples = build_samples(frame, inputs=[FIELD], outputs=[FIELD], lookback=6, forecast=2)
        if len(samples):
            samples = samples.take(_thin(len(samples), settings.EVALUATION_MAX_ORIGINS_PER_CELL))
            errors.append(np.abs(samples.y[:, :, 0] - samples.last[:, None, 0]))
    errors = np.concatenate(errors)
    assert result.intervals["model"]["coverage"] == pytest.approx(float((errors <= 1.0 * 0.5).mean()))
    assert result.intervals["model"]["mean_width"] == pytest.approx(1.0)


def test_the_field_page_ranking_shows_coverage(api, models, user):
    api.post(f"/performance/{FIELD}/evaluate")
    browser = Client()
    browser.force_login(user)
    page = browser.get(f"/fields/{FIELD}/").content.decode()
    coverage = ScoreRecord.objects.get(model_id=models[0].id).interval_coverage
    assert "Interval coverage" in page and f"{round(coverage * 100)} % <span class=\"muted\">of 90 %</span>" in page
