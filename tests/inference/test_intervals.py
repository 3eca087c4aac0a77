"""Prediction intervals on /v1/inference and the forecast page (bundled data)."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from tests.factories import known_version, trained_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
READY_CELL = 11016973


@pytest.fixture
def model(make_model):
    m = make_model(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                   lookback_steps=12, forecast_steps=3)
    known_version(m, offset=0.5, interval_scale=2.0)
    return m


def infer(api, model, **extra):
    return api.post("/inference", {"output_field": FIELD, "cell_id": READY_CELL, "model_id": str(model.id), **extra})


def test_every_step_has_bounds_at_the_default_coverage(api, model, settings):
    body = infer(api, model).json()
    assert body["coverage"] == settings.INTERVAL_COVERAGE == 0.9
    for p in body["predictions"]:
        value, lower, upper = p["values"][FIELD], p["lower"][FIELD], p["upper"][FIELD]
        # This version's half width at coverage c is 2·c.
        assert lower == pytest.approx(value - 1.8, abs=1e-4) and upper == pytest.approx(value + 1.8, abs=1e-4)
    settings.INTERVAL_COVERAGE = 0.5
    assert infer(api, model).json()["coverage"] == 0.5


def test_coverage_per_request_narrows_the_band(api, model):
    wide, narrow = infer(api, model).json(), infer(api, model, coverage=0.8).json()
    assert narrow["coverage"] == 0.8
    for w, n in zip(wide["predictions"], narrow["predictions"], strict=True):
        assert n["values"] == w["values"]
        assert w["lower"][FIELD] < n["lower"][FIELD] <= n["values"][FIELD] <= n["upper"][FIELD] < w["upper"][FIELD]
        assert n["upper"][FIELD] - n["lower"][FIELD] == pytest.approx(2 * 2 * 0.8, abs=1e-4)


@pytest.mark.parametrize("coverage", [0, 1, 1.5, -0.2, "most", [0.9]])
def test_bad_coverage_is_a_422_naming_it(api, model, coverage):
    response = infer(api, model, coverage=coverage)
    assert response.status_code == 422 and response["Content-Type"].startswith("application/json")
    assert "coverage" in response.json()["detail"]


def test_a_version_trained_before_intervals_has_none(api, make_model):
    old = make_model(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=12,
                     forecast_steps=2)
    known_version(old)
    body = infer(api, old).json()
    assert body["coverage"] is None and all(p["lower"] is None and p["upper"] is None for p in body["predictions"])


def test_a_trained_version_brackets_its_forecast(api, make_model):
    trained = make_model(architecture="linear", input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD, "rsrp_mean"],
                         window_duration_seconds=10, lookback_steps=6, forecast_steps=2)
    trained_version(trained)
    body = infer(api, trained, coverage=0.95).json()
    for p in body["predictions"]:
        for f in (FIELD, "rsrp_mean"):
            assert p["lower"][f] < p["values"][f] < p["upper"][f]
    later = body["predictions"][1]
    first = body["predictions"][0]
    # Farther ahead is less certain.
    assert later["upper"][FIELD] - later["lower"][FIELD] >= first["upper"][FIELD] - first["lower"][FIELD]


def test_the_forecast_page_draws_the_band(user, model):
    browser = Client()
    browser.force_login(user)
    page = browser.get("/forecast/", {"field": FIELD, "cell": READY_CELL, "model": str(model.id)}).content.decode()
    chart = json.loads(re.search(r'<script id="forecast-chart" type="application/json">(.*?)</script>', page, re.S)[1])
    labels = [s["label"] for s in chart["series"]]
    assert labels == ["actual", "forecast", "90% interval upper", "90% interval lower"]
    assert chart["bands"] == [{"upper": 2, "lower": 3, "fill": chart["bands"][0]["fill"]}]
    forecast, upper, lower = (chart["series"][i]["values"] for i in (1, 2, 3))
    steps = [i for i, v in enumerate(forecast) if v is not None][1:]  # after the last actual value
    assert len(steps) == 3 and all(lower[i] < forecast[i] < upper[i] for i in steps)
    assert "90 % interval" in page
