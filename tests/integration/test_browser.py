"""A person's first visit, in a real browser (Debian's Chromium driven by Playwright), against
the live server and a real django-q2 worker: log in, create a model, train it and watch the
progress bar reach the end, evaluate the field, see the chart, forecast a cell.
Screenshots of each page go to test-output/screenshots/ (kept by CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from tests.integration.workers import Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
FIELD = "sinr_mean"


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread between calls; Django's ORM
    # refuses to run next to any loop unless told that this use is sequential (it is).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: scripts/services.sh installs it (apt-get install chromium)"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_first_visit_in_a_browser(live_server, browser_page, settings, mlflow_server_uri, s3_endpoint,
                                  django_user_model, tmp_path):
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    operator = django_user_model.objects.create_user("operator", password="a-long-password")
    operator.groups.add(Group.objects.get_or_create(name="operators")[0])
    worker = Worker(tmp_path, "browser-worker").start()
    page = browser_page
    try:
        page.goto(f"{live_server.url}/")
        assert "/login/" in page.url
        page.get_by_label("User name").fill("operator")
        page.get_by_label("Password").fill("a-long-password")
        shot(page, "01-login")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Fields", exact=True).wait_for()
        shot(page, "02-dashboard-empty")

        page.get_by_role("link", name="Models").click()
        page.get_by_role("link", name="New model").click()
        page.get_by_label("Name").fill("browser-ann")
        page.get_by_label("Architecture").select_option("ann")
        page.get_by_label("Input fields").select_option([FIELD, "rsrp_mean", "cqi_mean"])
        page.get_by_label("Output fields").select_option([FIELD])
        page.get_by_label("Window duration seconds").fill("10")
        page.get_by_label("Lookback steps").fill("12")
        page.get_by_label("Forecast steps").fill("3")
        page.get_by_label("Hidden size").fill("16")
        page.get_by_label("Epochs").fill("6")
        shot(page, "03-model-form")
        page.get_by_role("button", name="Create model").click()
        page.get_by_role("heading", name="browser-ann", exact=True).wait_for()

        page.get_by_role("button", name="Train now").click()
        page.get_by_role("heading", name="Training jobs", exact=True).wait_for()
        page.locator("[data-status=running], [data-status=completed]").first.wait_for(timeout=90_000)
        shot(page, "04-jobs-running")  # the worker took it (a small model may already be done)
        page.locator("[data-status=completed]").wait_for(timeout=180_000)  # polled by htmx, no reload
        bar = page.locator("progress").first
        assert bar.get_attribute("value") == bar.get_attribute("max")
        shot(page, "05-jobs-done")

        page.goto(f"{live_server.url}/fields/{FIELD}/")
        page.get_by_label("Metric").select_option("rmse")
        page.get_by_role("button", name="Evaluate").click()
        page.get_by_text(f"{FIELD} evaluated by rmse").wait_for()
        page.locator(".uplot canvas").first.wait_for()  # the history chart rendered
        assert page.get_by_role("cell", name="browser-ann v1").count() == 1
        shot(page, "06-field")

        page.goto(f"{live_server.url}/")
        page.get_by_role("link", name="browser-ann").wait_for()
        shot(page, "07-dashboard")

        page.get_by_role("link", name="Forecast").click()
        page.get_by_label("Field").select_option(FIELD)
        ready = page.locator("#cell optgroup[label^='ready now'] option")  # the form reloads for the field
        ready.first.wait_for(state="attached")
        assert "11016973" in ready.evaluate_all("options => options.map(o => o.value)")
        page.get_by_label("Cell").select_option("11016973")
        page.get_by_role("button", name="Forecast").click()
        page.locator("#forecast-result .uplot canvas").wait_for()
        assert page.locator("#forecast-result table.predictions tbody tr").count() == 3
        shot(page, "08-forecast")

        page.goto(f"{live_server.url}/models/")
        page.get_by_role("link", name="browser-ann").click()
        page.locator(".uplot canvas").first.wait_for()  # the training curve
        shot(page, "09-model")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/")
        shot(page, "10-dashboard-phone")
    finally:
        worker.stop()
