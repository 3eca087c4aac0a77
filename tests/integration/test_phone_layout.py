"""The operator pages at phone width in a real browser (Debian's Chromium via Playwright): no
table overflows the screen and names stay on one line instead of breaking at every hyphen."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from performance.services import election
from tests.factories import known_version
from tests.integration.test_browser import SHOTS, browser_page  # noqa: F401 (a fixture)
from training.models import TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"

# For each page: does the document or any table scroll sideways, and which names take more
# than one line box (an inline element that wraps has several client rects).
LAYOUT = """() => ({
  page: document.documentElement.scrollWidth - window.innerWidth,
  tables: [...document.querySelectorAll('.table-wrap')].map(t => t.scrollWidth - t.clientWidth),
  wrapped: [...document.querySelectorAll('td a, .name')].filter(e => e.getClientRects().length > 1
      || e.getBoundingClientRect().height > 1.8 * parseFloat(getComputedStyle(e).fontSize)).map(e => e.textContent),
  names: document.querySelectorAll('td .name, td a.name').length,
})"""


@pytest.fixture
def operator_session(django_user_model):
    operator = django_user_model.objects.create_user("phone-operator", password="a-long-password")
    operator.groups.add(Group.objects.get_or_create(name="operators")[0])
    client = Client()
    client.force_login(operator)
    return client.cookies["sessionid"].value


def test_pages_fit_a_phone(live_server, browser_page, operator_session, make_model):  # noqa: F811
    spec = dict(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                lookback_steps=6, forecast_steps=1)
    names = ["demo-sinr-lstm-10s", "demo-sinr-ann-10s", "sinr-residual-ridge-with-a-rather-long-name-v2"]
    models = [make_model(name=name, **spec) for name in names]
    for offset, model in enumerate(models):
        known_version(model, offset=offset * 0.5)
    election.field_evaluate(field=FIELD)
    election.field_evaluate(field=FIELD, metric="mae")
    TrainingJob.objects.create(model=models[0], lookback_seconds=3600, reason="monitor: sinr_mean degraded")

    page = browser_page
    page.context.add_cookies([{"name": "sessionid", "value": operator_session, "url": live_server.url}])
    page.set_viewport_size({"width": 390, "height": 844})
    pages = {"dashboard": "/", "field": f"/fields/{FIELD}/", "models": "/models/", "jobs": "/jobs/",
             "model": f"/models/{models[2].id}/"}
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        if name == "field":
            page.locator(".uplot canvas").first.wait_for()
            assert page.locator(".uplot").first.bounding_box()["width"] <= 390
        layout = page.evaluate(LAYOUT)
        page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)
        assert layout["page"] <= 0 and all(extra <= 0 for extra in layout["tables"]), (name, layout)
        assert layout["wrapped"] == [], (name, layout)
        if name in ("dashboard", "field", "models", "jobs"):
            assert layout["names"] >= 1, name  # the check saw the names
