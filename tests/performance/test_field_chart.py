"""The field page's score chart: one series per model in the chosen metric, the baseline and
threshold as steps from the election history, and the metric picker."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from performance import monitoring, selectors
from performance.services import election, monitors
from performance.views import history_chart
from registry import services as registry_services
from registry.models import FieldBest, ModelVersion
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def elections(make_model, settings):
    """Two models; elected by rmse, then by mae, then a set-best to the worse one (by mae)."""
    settings.MONITORING_DEGRADATION_FACTOR = 1.5
    spec = dict(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                forecast_steps=1)
    good, worse = make_model(**spec), make_model(**spec)
    known_version(good)
    known_version(worse, offset=1.5)
    by_rmse = election.field_evaluate(field=FIELD, metric="rmse")
    by_mae = election.field_evaluate(field=FIELD, metric="mae")
    election.field_best_override(field=FIELD, model_id=worse.id)
    return good, worse, by_rmse, by_mae


def series(chart: dict) -> dict[str, list]:
    return {s["label"]: s["values"] for s in chart["series"]}


def at(chart: dict, when) -> int:
    return chart["x"].index(when.timestamp())


def test_one_series_per_model_in_the_chosen_metric(elections):
    good, worse, by_rmse, by_mae = elections
    chart = history_chart(FIELD, "rmse")
    lines = series(chart)
    assert chart["yLabel"] == "rmse" and set(lines) == {good.name, worse.name, "baseline", "threshold", "elected"}
    rmse_round, mae_round = by_rmse.records[0].measured_at, by_mae.records[0].measured_at
    for record in by_mae.records:  # scored by mae, drawn in rmse: never an mae value on the rmse axis
        assert lines[record.model_name][at(chart, mae_round)] == record.details["model"]["rmse"] != record.score
    for record in by_rmse.records:
        assert lines[record.model_name][at(chart, rmse_round)] == record.score
    assert lines["elected"][at(chart, rmse_round)] == by_rmse.records[0].score


def test_the_baseline_and_threshold_are_steps_from_each_election(elections, settings):
    good, worse, by_rmse, by_mae = elections
    steps = selectors.baseline_history(FIELD)
    assert [(s.why, s.metric) for s in steps] == [("evaluated", "rmse"), ("evaluated", "mae"), ("best_set", "mae")]
    worse_mae = next(r.score for r in by_mae.records if r.model_id == worse.id)
    assert steps[0].baseline == by_rmse.records[0].score and steps[1].baseline == by_mae.records[0].score
    assert steps[2].baseline == worse_mae == FieldBest.objects.get().baseline_score

    rmse, mae = history_chart(FIELD, "rmse"), history_chart(FIELD, "mae")
    for chart in (rmse, mae):
        assert all(s.at.timestamp() in chart["x"] for s in steps)  # each step starts at its election
    baseline = series(rmse)["baseline"]
    # rmse: the first election's baseline from its election until the field was elected by mae.
    assert baseline[at(rmse, steps[0].at)] == steps[0].baseline
    assert baseline[at(rmse, steps[1].at) - 1] == steps[0].baseline
    assert baseline[at(rmse, steps[1].at):] == [None] * (len(rmse["x"]) - at(rmse, steps[1].at))
    # mae: nothing before its first election, then one step per election.
    mae_baseline, mae_threshold = series(mae)["baseline"], series(mae)["threshold"]
    assert mae_baseline[: at(mae, steps[1].at)] == [None] * at(mae, steps[1].at)
    assert mae_baseline[at(mae, steps[1].at)] == steps[1].baseline
    assert mae_baseline[-1] == steps[2].baseline != steps[1].baseline
    assert mae_threshold[-1] == pytest.approx(steps[2].baseline * 1.5)
    assert next(s for s in mae["series"] if s["label"] == "threshold")["stepped"] is True


def test_a_rebaseline_is_a_step_too(elections, settings):
    good, worse, *_ = elections
    registry_services.field_best_set(field=FIELD, model=worse, version=ModelVersion.objects.get(model=worse),
                                     metric="mae", baseline_score=0.0, elected_by="test")
    monitors.field_monitor_make_due(fields=[FIELD])
    assert monitoring.tick()[0].action == "rebaselined"
    last = selectors.baseline_history(FIELD)[-1]
    assert (last.why, last.metric, last.baseline) == ("rebaseline", "mae", FieldBest.objects.get().baseline_score)
    chart = history_chart(FIELD, "mae")
    assert series(chart)["baseline"][-1] == last.baseline


def test_the_page_has_a_metric_picker_and_draws_the_chosen_metric(elections, user):
    browser = Client()
    browser.force_login(user)
    default = browser.get(f"/fields/{FIELD}/")
    assert default.context["chart_metric"] == "mae"  # the best's metric
    page = browser.get(f"/fields/{FIELD}/", {"metric": "rmse"})
    text = page.content.decode()
    assert page.context["chart"]["yLabel"] == "rmse"
    assert re.search(r'<a href="\?metric=rmse#score-history" aria-current="true">rmse</a>', text)
    assert 'href="?metric=r2#score-history"' in text
    chart = json.loads(re.search(r'<script id="history-chart" type="application/json">(.*?)</script>', text,
                                 re.S).group(1))
    assert chart == json.loads(json.dumps(page.context["chart"]))
    assert browser.get(f"/fields/{FIELD}/", {"metric": "accuracy"}).context["chart_metric"] == "mae"
