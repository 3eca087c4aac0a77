"""Operator pages: who may see and do what, CSRF, and that each page shows its data."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from performance.services import election
from registry.models import ModelConfig
from tests.factories import known_version
from training.models import TrainingJob

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
PAGES = ["/", "/partials/dashboard/", f"/fields/{FIELD}/", "/models/", "/jobs/", "/partials/jobs/", "/forecast/",
         "/network/"]


@pytest.fixture
def field_with_best(make_model):
    model = make_model(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                       lookback_steps=6, forecast_steps=2)
    known_version(model)
    election.field_evaluate(field=FIELD)
    return model


def logged_in(user, csrf: bool = False) -> Client:
    browser = Client(enforce_csrf_checks=csrf)
    browser.force_login(user)
    return browser


def test_anonymous_visitors_are_sent_to_log_in(client):
    for page in PAGES + ["/models/new/"]:
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), page


def test_login_page_logs_in(client, user):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "secret-pw"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_viewers_see_everything_and_change_nothing(viewer, field_with_best):
    browser = logged_in(viewer)
    for page in PAGES + [f"/models/{field_with_best.id}/"]:
        response = browser.get(page)
        assert response.status_code == 200, page
        assert b"Evaluate</button>" not in response.content and b"Train now" not in response.content
    job = TrainingJob.objects.create(model=field_with_best, lookback_seconds=3600)
    for action in [f"/fields/{FIELD}/evaluate/", f"/fields/{FIELD}/monitor/",
                   f"/fields/{FIELD}/set-best/{field_with_best.id}/", f"/models/{field_with_best.id}/train/",
                   f"/jobs/{job.id}/cancel/"]:
        assert browser.post(action).status_code == 403, action
    assert browser.get("/models/new/").status_code == 403
    assert not TrainingJob.objects.exclude(id=job.id).exists()


def test_posts_need_the_csrf_token(user, field_with_best):
    browser = logged_in(user, csrf=True)
    assert browser.post(f"/fields/{FIELD}/evaluate/", {"metric": "mae"}).status_code == 403
    page = browser.get(f"/fields/{FIELD}/")
    token = page.cookies["csrftoken"].value
    response = browser.post(f"/fields/{FIELD}/evaluate/", {"metric": "mae", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_dashboard_and_field_page_show_the_field(user, field_with_best):
    browser = logged_in(user)
    dashboard = browser.get("/").content.decode()
    assert FIELD in dashboard and field_with_best.name in dashboard and "monitoring" in dashboard
    assert "cqi_mean" in dashboard  # listed as an opportunity
    page = browser.get(f"/fields/{FIELD}/").content.decode()
    assert 'id="history-chart"' in page and "Set best" not in page  # the only model is already best
    assert "evaluated" in page  # the timeline
    browser.post(f"/fields/{FIELD}/evaluate/", {"metric": "mae"})
    assert "by mae" in browser.get(f"/fields/{FIELD}/").content.decode()


def test_create_a_model_with_inline_errors_then_train_it(user):
    browser = logged_in(user)
    form = browser.get("/models/new/").content.decode()
    assert 'value="rsrp_mean"' in form
    data = {"name": "ui-made", "architecture": "linear", "input_fields": ["rsrp_mean"], "output_fields": ["rsrp_mean"],
            "window_duration_seconds": 10, "lookback_steps": 0, "forecast_steps": 1, "hidden_size": 8,
            "target_mode": "residual", "epochs": 5}
    invalid = browser.post("/models/new/", data)
    assert invalid.status_code == 200 and b"errorlist" in invalid.content and not ModelConfig.objects.exists()
    created = browser.post("/models/new/", {**data, "lookback_steps": 6})
    model = ModelConfig.objects.get(name="ui-made")
    assert created.status_code == 302 and created["Location"] == f"/models/{model.id}/"
    duplicate = browser.post("/models/new/", {**data, "lookback_steps": 6})
    assert b"already exists" in duplicate.content
    assert browser.post(f"/models/{model.id}/train/").status_code == 302
    job = TrainingJob.objects.get(model=model)
    assert job.reason == "ui" and job.requested_by == user
    jobs_page = browser.get("/partials/jobs/").content.decode()
    assert "ui-made" in jobs_page and "Cancel" in jobs_page
    assert 'hx-trigger="every 2s"' in browser.get("/jobs/").content.decode()  # live progress while a job is active
    browser.post(f"/jobs/{job.id}/cancel/")
    assert TrainingJob.objects.get(id=job.id).status == "cancelled"
    assert 'hx-trigger="every 10s"' in browser.get("/jobs/").content.decode()  # idle: poll slowly


def test_forecast_page(user, field_with_best):
    browser = logged_in(user)
    page = browser.get("/forecast/", {"field": FIELD, "cell": 11016973}).content.decode()
    assert field_with_best.name in page and 'id="forecast-chart"' in page and "+2" in page
    short = browser.get("/forecast/", {"field": FIELD, "cell": 11112972}).content.decode()
    assert "complete contiguous windows" in short
    partial = browser.get("/forecast/", {"field": FIELD, "cell": 11016973}, headers={"HX-Request": "true",
                                                                                   "HX-Target": "forecast-result"})
    assert b"<html" not in partial.content and b"forecast-chart" in partial.content


def test_forecast_page_lists_ready_cells_first(user, field_with_best):
    browser = logged_in(user)
    page = browser.get("/forecast/", {"field": FIELD}, headers={"HX-Request": "true", "HX-Target": "forecast-form"})
    text = page.content.decode()
    ready, rest = text.split('label="ready now', 1)[1].split('label="not enough recent data"', 1)
    assert 'value="11016973"' in ready and 'value="11112972"' not in ready
    assert 'value="10805003"' in ready  # 5 windows, one missing, then more: filled
    assert re.search(r'value="11112972"[^>]*>11112972 \(2 of 6 windows\)', rest)
    assert f"{field_with_best.name} v1 needs 6 complete, contiguous latest windows" in text
    no_field = browser.get("/forecast/").content.decode()
    assert "Choose a field to see which cells are ready." in no_field and 'label="ready now' not in no_field


def test_a_forecast_result_request_skips_the_pickers(user, field_with_best, monkeypatch):
    """Pressing Forecast swaps in the result only: no cell scan, no cell listing."""
    import inference.views

    def not_here(*args, **kwargs):
        raise AssertionError("the pickers were built for a result-only request")

    monkeypatch.setattr(inference.views, "cell_readiness", not_here)
    partial = logged_in(user).get("/forecast/", {"field": FIELD, "cell": 11016973},
                                  headers={"HX-Request": "true", "HX-Target": "forecast-result"})
    assert partial.status_code == 200 and b"forecast-chart" in partial.content
    assert "cells" not in partial.context and "fields" not in partial.context


def test_unknown_model_page_is_404(user):
    import uuid

    assert logged_in(user).get(f"/models/{uuid.uuid4()}/").status_code == 404
