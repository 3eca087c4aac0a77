"""The field page's cells table and replay form, and the model page's cells-won line."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from performance import cell_table
from performance.services import election
from tests.factories import known_version

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_models(make_model):
    spec = dict(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                lookback_steps=6, forecast_steps=2)
    best, other = make_model(**spec), make_model(**spec)
    known_version(best)
    known_version(other, offset=0.7)
    election.field_evaluate(field=FIELD)
    return best, other


def test_the_field_page_lists_cells_problems_first_and_sorts(browser, two_models):
    best, other = two_models
    found = cell_table.table(FIELD)
    problems = [r for r in found.rows if r.problem]
    page = browser.get(f"/fields/{FIELD}/").content.decode()
    assert 'id="cells"' in page
    assert f"loses to another model or a naive forecaster on\n<strong>{len(problems)}</strong>" in page
    shown = [int(c) for c in re.findall(r'<td data-label="Cell">(\d+)</td>', page)]
    assert len(shown) == len(found.rows) and set(shown[:len(problems)]) == {r.cell for r in problems}
    assert "Election margin 0.02" in page
    by_cell = browser.get(f"/fields/{FIELD}/?cells_sort=cell&cells_desc=1").content.decode()
    assert [int(c) for c in re.findall(r'<td data-label="Cell">(\d+)</td>', by_cell)] == sorted(shown, reverse=True)

    line = browser.get(f"/partials/models/{other.id}/cells/").content.decode()
    wins = sum(r.scores[other.name] < r.scores[best.name] for r in found.rows)
    assert f"wins on {wins} of {len(found.rows)} cells" in line
    assert f"/partials/models/{other.id}/cells/" in browser.get(f"/models/{other.id}/").content.decode()


def test_the_replay_form_answers_with_a_chart_and_one_row_per_factor(browser, two_models):
    answer = browser.get(f"/fields/{FIELD}/replay/", {"factors": "1.5, 3", "interval": "600", "days": "1"})
    html = answer.content.decode()
    assert answer.status_code == 200 and "144 past checks every 600 s" in html
    chart = json.loads(re.search(r'<script id="replay-chart" type="application/json">(.*?)</script>', html, re.S)[1])
    assert len(chart["x"]) == 144 and [s["label"] for s in chart["series"]][1:] == [
        "threshold × 1.5", "retrain × 1.5", "threshold × 3", "retrain × 3"]
    assert html.count('data-label="Factor"') == 2
    bad = browser.get(f"/fields/{FIELD}/replay/", {"factors": "0.5"}).content.decode()
    assert "factors must be one or more numbers" in bad
    assert "must be numbers" in browser.get(f"/fields/{FIELD}/replay/", {"days": "soon"}).content.decode()
